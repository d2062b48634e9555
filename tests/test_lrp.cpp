// LRP (explain/lrp, layers/lrp_rules): each linear rule against an independent dense-matrix
// implementation of its formula (float64, 1e-10); whole-model properties (conservation of LRP-0 without
// bias, LRP-0 = gradient × input on bias-free ReLU nets, z⁺ sign preservation); composites, rule maps
// and their validation; relevance at and from hidden values; determinism. Batch-norm folding, ONNX and
// token models: tests/test_lrp_models.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "engine/ops.h"
#include "engine/parallel.h"
#include "explain/lrp/composite.h"
#include "explain/lrp/lrp.h"
#include "explain/point.h"
#include "layers/binary.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/lrp_rules.h"
#include "layers/matmul.h"
#include "layers/registry.h"
#include "layers/softmax.h"
#include "models/zoo.h"
#include "tests/gradcheck.h"
#include "tests/lrp_fixtures.h"

using namespace xdnn;
using namespace xdnn::explain::lrp;
using namespace xdnn::lrp_test;
using testing::max_rel_diff;

namespace {

// ---- dense reference ------------------------------------------------------------------------------
// One sample of a linear-like layer as a dense matrix: z = M x + c, M (O, I) with M[:, i] = layer(e_i)
// without bias, c = layer(0) with bias. For a convolution every entry of M is one kernel tap or 0, so
// the dense matrix of the clamped kernel W⁺ is M⁺ (and likewise for W⁻, W²); `P` is the connectivity
// (the map with all-ones weights) for the flat rule.
struct Dense {
  int64_t O = 0, I = 0;
  std::vector<double> M, P, c;
  double m(int64_t j, int64_t i) const { return M[j * I + i]; }
};

Dense densify(const LinearLike& lin, const Shape& sample_shape, bool with_bias) {
  Dense d;
  d.I = shape_numel(sample_shape);
  const Tensor& W = lin.weight();
  Tensor ones_w = Tensor::full(W.shape(), 1.0, W.dtype());
  Tensor zero = Tensor(sample_shape, DType::F64);
  Tensor c = lin.linear_forward(zero, W, with_bias ? lin.bias() : Tensor());
  d.O = c.numel();
  d.M.assign(d.O * d.I, 0.0);
  d.P.assign(d.O * d.I, 0.0);
  for (int64_t j = 0; j < d.O; ++j) d.c.push_back(c.item(j));
  for (int64_t i = 0; i < d.I; ++i) {
    Tensor e(sample_shape, DType::F64);
    e.set_item(i, 1.0);
    Tensor col = lin.linear_forward(e, W, Tensor()), pc = lin.linear_forward(e, ones_w, Tensor());
    for (int64_t j = 0; j < d.O; ++j) d.M[j * d.I + i] = col.item(j), d.P[j * d.I + i] = pc.item(j);
  }
  return d;
}

double stab(double z, double e) { return z + e * (z >= 0 ? 1.0 : -1.0); }
double pos(double v) { return v > 0 ? v : 0.0; }
double neg(double v) { return v < 0 ? v : 0.0; }

// The README table, one loop nest per rule, for one sample: x (I), R (O) -> R_in (I).
std::vector<double> reference_rule(const Dense& d, const std::vector<double>& x, const std::vector<double>& R,
                                   const Rule& r) {
  const double delta = r.stabilizer;
  std::vector<double> out(d.I, 0.0);
  auto sum_over_i = [&](const std::function<double(int64_t, int64_t)>& f, int64_t j) {
    double s = 0;
    for (int64_t i = 0; i < d.I; ++i) s += f(j, i);
    return s;
  };
  for (int64_t j = 0; j < d.O; ++j) {
    const double b = d.c[j];
    if (r.name == "epsilon" || r.name == "zero") {
      double z = sum_over_i([&](int64_t jj, int64_t i) { return d.m(jj, i) * x[i]; }, j) + b;
      double s = R[j] / (r.name == "zero" ? z : stab(z, r.epsilon));
      for (int64_t i = 0; i < d.I; ++i) out[i] += x[i] * d.m(j, i) * s;
    } else if (r.name == "zplus" || r.name == "alpha-beta") {
      double p =
          sum_over_i([&](int64_t jj, int64_t i) { return pos(d.m(jj, i)) * pos(x[i]) + neg(d.m(jj, i)) * neg(x[i]); },
                     j) +
          pos(b);
      double q =
          sum_over_i([&](int64_t jj, int64_t i) { return neg(d.m(jj, i)) * pos(x[i]) + pos(d.m(jj, i)) * neg(x[i]); },
                     j) +
          neg(b);
      double a = r.name == "zplus" ? 1.0 : r.alpha, be = r.name == "zplus" ? 0.0 : r.beta;
      double s = R[j] / stab(p, delta), t = R[j] / stab(q, delta);
      for (int64_t i = 0; i < d.I; ++i) {
        out[i] += a * (pos(x[i]) * pos(d.m(j, i)) + neg(x[i]) * neg(d.m(j, i))) * s;
        out[i] -= be * (pos(x[i]) * neg(d.m(j, i)) + neg(x[i]) * pos(d.m(j, i))) * t;
      }
    } else if (r.name == "gamma") {
      const double g = r.gamma;
      auto wgp = [&](int64_t i) { return d.m(j, i) + g * pos(d.m(j, i)); };
      auto wgn = [&](int64_t i) { return d.m(j, i) + g * neg(d.m(j, i)); };
      double o = sum_over_i([&](int64_t jj, int64_t i) { return d.m(jj, i) * x[i]; }, j) + b;
      if (o > 0) {
        double u = b + g * pos(b);
        for (int64_t i = 0; i < d.I; ++i) u += wgp(i) * pos(x[i]) + wgn(i) * neg(x[i]);
        for (int64_t i = 0; i < d.I; ++i) out[i] += (pos(x[i]) * wgp(i) + neg(x[i]) * wgn(i)) * R[j] / stab(u, delta);
      } else if (o < 0) {
        double v = b + g * neg(b);
        for (int64_t i = 0; i < d.I; ++i) v += wgn(i) * pos(x[i]) + wgp(i) * neg(x[i]);
        for (int64_t i = 0; i < d.I; ++i) out[i] += (pos(x[i]) * wgn(i) + neg(x[i]) * wgp(i)) * R[j] / stab(v, delta);
      }
    } else if (r.name == "box") {
      double z = b - pos(b) - neg(b);
      for (int64_t i = 0; i < d.I; ++i) z += d.m(j, i) * x[i] - pos(d.m(j, i)) * r.low - neg(d.m(j, i)) * r.high;
      double s = R[j] / stab(z, delta);
      for (int64_t i = 0; i < d.I; ++i)
        out[i] += (x[i] * d.m(j, i) - r.low * pos(d.m(j, i)) - r.high * neg(d.m(j, i))) * s;
    } else if (r.name == "w2" || r.name == "flat") {
      auto w = [&](int64_t i) { return r.name == "w2" ? d.m(j, i) * d.m(j, i) : d.P[j * d.I + i]; };
      double z = 0;
      for (int64_t i = 0; i < d.I; ++i) z += w(i);
      for (int64_t i = 0; i < d.I; ++i) out[i] += w(i) * R[j] / stab(z, delta);
    } else {
      FAIL("no reference for rule " << r.name);
    }
  }
  return out;
}

std::vector<double> to_vec(const Tensor& t) {
  std::vector<double> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.item(i);
  return v;
}

// Runs every rule on `layer` with input x (N, ...) and checks each sample against the dense reference.
void check_rules_against_dense_once(Layer& layer, const Tensor& x, Rng& rng) {
  const LinearLike* lin = layer.as_linear();
  REQUIRE(lin);
  Saved saved;
  Tensor y = layer.forward({x}, saved, {}).at(0);
  REQUIRE(saved.has("z"));  // the forward's W ⋆ x + b, which the rules reuse; without it they recompute it:
  Saved input_only;
  input_only.put("x", x);
  Tensor R = random_tensor(y.shape(), rng, -1.0, 1.0);
  Shape sample_shape = x.shape();
  sample_shape[0] = 1;
  const int64_t N = x.dim(0);
  RuleParams p;
  p.epsilon = 0.05;
  p.gamma = 0.3;
  p.low = -1.0;
  p.high = 1.0;
  for (bool bias_out : {false, true}) {
    p.bias_out = bias_out;
    Dense d = densify(*lin, sample_shape, !bias_out);
    for (const char* name : {"zero", "epsilon", "zplus", "alpha-beta", "gamma", "box", "w2", "flat"}) {
      Rule rule = make_rule(name, p);
      Tensor got = layer.relevance({R}, saved, rule).at(0);
      REQUIRE(got.shape() == x.shape());
      CHECK(bitwise_equal(got, layer.relevance({R}, input_only, rule).at(0)));
      for (int64_t n = 0; n < N; ++n) {
        auto ref = reference_rule(d, to_vec(x.slice_batch(n, n + 1)), to_vec(R.slice_batch(n, n + 1)), rule);
        Tensor want = Tensor::from_vector(sample_shape, ref);
        INFO(layer.kind(), " rule ", name, " bias_out ", bias_out, " sample ", n);
        CHECK(max_rel_diff(got.slice_batch(n, n + 1), want) < 1e-10);
      }
    }
  }
}

// Signed input, its ReLU (no negative part: the rules' fast path that skips the x⁻ terms), and the ReLU with
// one negative entry: the signed route (lrp_rules.cpp's all_zero sums x⁻ by a product once numel > 256).
void check_rules_against_dense(Layer& layer, const Tensor& x, Rng& rng) {
  check_rules_against_dense_once(layer, x, rng);
  Tensor relu = ops::unary(ops::Unary::Relu, x), one_negative = relu.clone();
  check_rules_against_dense_once(layer, relu, rng);
  one_negative.set_item(one_negative.numel() - 1, -0.5);
  check_rules_against_dense_once(layer, one_negative, rng);
}
}  // namespace

TEST_CASE("lrp rules: every linear rule equals its dense-matrix formula (Linear, Conv2d; float64)") {
  Rng rng(101);
  SUBCASE("Linear") {
    auto fc = make_linear("fc", 6, 4, true, rng);
    check_rules_against_dense(*fc, random_tensor({3, 6}, rng), rng);
  }
  SUBCASE("Conv2d stride 2, padding 1") {
    Conv2dOptions o = Conv2dOptions::same(2, 1);
    auto conv = std::make_shared<Conv2d>("conv", 2, 3, 3, 3, o, DType::F64);
    conv->init(rng);
    check_rules_against_dense(*conv, random_tensor({2, 2, 5, 5}, rng), rng);
  }
  SUBCASE("Conv2d without bias") {
    auto conv = make_conv("conv", 2, 3, false, rng);
    check_rules_against_dense(*conv, random_tensor({2, 2, 4, 4}, rng), rng);
  }
  SUBCASE("Conv2d, 576 input values (the non-negativity check's product route)") {
    auto conv = make_conv("conv", 2, 3, true, rng);
    check_rules_against_dense(*conv, random_tensor({2, 2, 12, 12}, rng), rng);
  }
}

TEST_CASE("lrp: LRP-0 without bias conserves relevance per sample on whole models") {
  Rng rng(5);
  for (int which = 0; which < 2; ++which) {
    Model m = which == 0 ? make_mlp(rng, true) : make_cnn(rng, true);
    Tensor x = which == 0 ? random_tensor({3, 1, 4, 4}, rng, 0, 1) : random_tensor({3, 1, 8, 8}, rng, 0, 1);
    LrpConfig cfg;
    cfg.rule = "zero";
    cfg.params.bias_out = true;
    LrpQuery q;
    q.targets = argmax_targets(m, x);
    Tensor R = lrp_attribution(m, x, cfg, q);
    Tensor logits = m.predict(x);
    for (int64_t n = 0; n < 3; ++n) {
      const double f = logits.item(n * 5 + q.targets[n]);
      INFO("model ", which, " sample ", n);
      CHECK(std::abs(sample_sum(R, n) - f) < 1e-10 * std::max(1.0, std::abs(f)));
    }
  }
}

TEST_CASE("lrp: LRP-0 on a bias-free ReLU network equals gradient x input") {
  Rng rng(6);
  for (int which = 0; which < 2; ++which) {
    Model m = which == 0 ? make_mlp(rng, false) : make_cnn(rng, false);
    Tensor x = which == 0 ? random_tensor({2, 1, 4, 4}, rng, -1, 1) : random_tensor({2, 1, 8, 8}, rng, -1, 1);
    LrpConfig cfg;
    cfg.rule = "zero";
    LrpQuery q;
    q.targets = argmax_targets(m, x);
    Tensor R = lrp_attribution(m, x, cfg, q);
    Tape tape = m.forward({x});
    Tensor g = explain::target_gradient(m, tape, m.inputs()[0], q.targets);
    INFO("model ", which);
    CHECK(max_rel_diff(R, ops::mul(x, g)) < 1e-10);
  }
}

TEST_CASE("lrp: residual Add and average pooling (norm rules): exact conservation and gradient x input") {
  Rng rng(13);
  Model m = make_residual_cnn(rng, true);
  Tensor x = random_tensor({3, 1, 8, 8}, rng, 0, 1);
  auto targets = argmax_targets(m, x);
  Tensor R = lrp0_exact(m, x, targets, /*bias_out=*/true);
  Tensor logits = m.predict(x);
  for (int64_t n = 0; n < 3; ++n) {
    const double f = logits.item(n * 5 + targets[n]);
    CHECK(std::abs(sample_sum(R, n) - f) < 1e-10 * std::max(1.0, std::abs(f)));
  }
  Model nb = make_residual_cnn(rng, false);
  Tensor R0 = lrp0_exact(nb, x, targets, false);
  Tape tape = nb.forward({x});
  Tensor g = explain::target_gradient(nb, tape, nb.inputs()[0], targets);
  CHECK(max_rel_diff(R0, ops::mul(x, g)) < 1e-10);
  // The same pass through lrp_attribution (δ = 1e-6 in the norm rules) is within δ-sized effects.
  LrpConfig cfg;
  cfg.rule = "zero";
  LrpQuery q;
  q.targets = targets;
  CHECK(testing::rel_l2(lrp_attribution(nb, x, cfg, q), R0) < 1e-4);
}

TEST_CASE("lrp: z-plus relevance keeps the sign of the explained logit for non-negative input") {
  Rng rng(7);
  Model m = make_cnn(rng, true);
  Tensor x = random_tensor({4, 1, 8, 8}, rng, 0, 1);
  LrpConfig cfg;
  cfg.rule = "zplus";
  LrpQuery q;
  q.targets = {0, 1, 2, 3};
  Tensor R = lrp_attribution(m, x, cfg, q);
  Tensor logits = m.predict(x);
  const int64_t per = R.numel() / 4;
  for (int64_t n = 0; n < 4; ++n) {
    const double f = logits.item(n * 5 + q.targets[n]);
    int64_t wrong = 0;
    for (int64_t i = 0; i < per; ++i) wrong += R.item(n * per + i) * f < 0;
    CHECK(wrong == 0);
  }
}

TEST_CASE("lrp composites: rules by layer kind and position") {
  Rng rng(8);
  Model cnn = make_cnn(rng, true), mlp = make_mlp(rng, true);
  RuleParams p;
  auto names = [](const std::vector<Rule>& rules) {
    std::vector<std::string> v;
    for (const auto& r : rules) v.push_back(r.name);
    return v;
  };
  using V = std::vector<std::string>;
  // cnn nodes: conv1 relu1 pool1 conv2 relu2 pool2 flatten fc
  CHECK(names(composite_rules(cnn, "epsilon-plus", p)) ==
        V{"zplus", "pass", "wta", "zplus", "pass", "wta", "reshape", "epsilon"});
  CHECK(names(composite_rules(cnn, "epsilon-gamma-box", p)) ==
        V{"box", "pass", "wta", "gamma", "pass", "wta", "reshape", "epsilon"});
  auto ab = composite_rules(cnn, "epsilon-alpha2-beta1", p);
  CHECK(names(ab) == V{"alpha-beta", "pass", "wta", "alpha-beta", "pass", "wta", "reshape", "epsilon"});
  CHECK(ab[0].alpha == 2.0);
  CHECK(ab[0].beta == 1.0);
  CHECK(names(composite_rules(cnn, "epsilon-plus-flat", p)) ==
        V{"flat", "pass", "wta", "zplus", "pass", "wta", "reshape", "epsilon"});
  // mlp nodes: flatten fc1 relu1 fc2 — no conv, so no box rule; flat goes to the first Dense.
  CHECK(names(composite_rules(mlp, "epsilon-gamma-box", p)) == V{"reshape", "epsilon", "pass", "epsilon"});
  CHECK(names(composite_rules(mlp, "epsilon-plus-flat", p)) == V{"reshape", "flat", "pass", "epsilon"});
  CHECK(names(uniform_rules(cnn, "gamma", p)) == V{"gamma", "pass", "wta", "gamma", "pass", "wta", "reshape", "gamma"});
  CHECK_THROWS_WITH_AS(composite_rules(cnn, "epsilon-minus", p),
                       doctest::Contains("unknown LRP composite 'epsilon-minus'"), Error);
}

TEST_CASE("lrp rule maps: patterns, parameters, first match wins, validation") {
  Rng rng(9);
  Model cnn = make_cnn(rng, true);
  RuleParams p;
  auto rules = composite_rules(cnn, "epsilon-plus", p);
  apply_rule_map(cnn, "conv1=zb:-1:2, conv*=gamma:0.5,fc=epsilon:1e-3,pool?=proportional", p, rules);
  CHECK(rules[0].name == "box");
  CHECK(rules[0].low == -1.0);
  CHECK(rules[0].high == 2.0);
  CHECK(rules[3].name == "gamma");
  CHECK(rules[3].gamma == 0.5);
  CHECK(rules[7].name == "epsilon");
  CHECK(rules[7].epsilon == 1e-3);
  CHECK(rules[2].name == "proportional");
  CHECK(rules[5].name == "proportional");
  CHECK(rules[1].name == "pass");

  auto err = [&](const std::string& spec) {
    auto r = composite_rules(cnn, "epsilon-plus", p);
    apply_rule_map(cnn, spec, p, r);
  };
  CHECK_THROWS_WITH_AS(err("conv*=sparkle"), doctest::Contains("unknown LRP rule 'sparkle'"), Error);
  CHECK_THROWS_WITH_AS(err("conv*=alpha-beta:2:2"), doctest::Contains("alpha - beta = 1"), Error);
  CHECK_THROWS_WITH_AS(err("conv*=gamma:-1"), doctest::Contains("gamma must be >= 0"), Error);
  CHECK_THROWS_WITH_AS(err("fc=epsilon:-1e-3"), doctest::Contains("epsilon must be >= 0"), Error);
  CHECK_THROWS_WITH_AS(err("lstm*=epsilon"), doctest::Contains("matches no layer"), Error);
  CHECK_THROWS_WITH_AS(err("pool1=zplus"),
                       doctest::Contains("node 'pool1' (MaxPool2d) has no rule 'zplus'; it has: wta, proportional"),
                       Error);
  CHECK_THROWS_WITH_AS(err("conv1"), doctest::Contains("expected PATTERN=RULE"), Error);
  CHECK_THROWS_WITH_AS(err("conv1=zplus:3"), doctest::Contains("no parameters"), Error);
  CHECK_THROWS_WITH_AS(err("conv1=gamma:x"), doctest::Contains("expected a number"), Error);
  // --rule with a bad alpha/beta pair, and --rule together with --composite
  RuleParams bad;
  bad.alpha = 3;
  bad.beta = 1;
  CHECK_THROWS_WITH_AS(uniform_rules(cnn, "alpha-beta", bad), doctest::Contains("alpha - beta = 1"), Error);
  CHECK_THROWS_WITH_AS(uniform_rules(cnn, "proportional", p), doctest::Contains("not a rule for Conv/Linear"), Error);
  LrpConfig both;
  both.rule = "epsilon";
  both.composite = "epsilon-plus";
  CHECK_THROWS_WITH_AS(rules_for(cnn, both), doctest::Contains("either --rule or --composite"), Error);
  CHECK(wildcard_match("conv*", "conv12"));
  CHECK(wildcard_match("*conv?/*", "/conv1/Conv"));
  CHECK_FALSE(wildcard_match("conv?", "conv12"));
}

TEST_CASE("lrp: relevance at and from hidden values") {
  Rng rng(11);
  Model m = make_cnn(rng, true);
  Tensor x = random_tensor({2, 1, 8, 8}, rng, 0, 1);
  LrpConfig cfg;
  cfg.composite = "epsilon-plus";
  LrpQuery q;
  q.targets = {1, 3};
  // --at: the relevance at pool1 equals what the rest of the pass starts from.
  q.at = "pool1";
  Tensor at_pool1 = lrp_attribution(m, x, cfg, q);
  CHECK(at_pool1.shape() == Shape{2, 4, 4, 4});
  LrpResult full = lrp_pass(m, x, cfg, q);
  CHECK(max_rel_diff(at_pool1, full.relevance[m.value_id("pool1")]) == 0.0);
  // --from relu2 --unit 2: the seed is channel 2 of relu2; relevance above relu2 is zero, and under the
  // z⁺ rules of this composite the relevance at the input sums to the seed minus what biases absorb.
  q.at.clear();
  q.from = "relu2";
  q.unit = 2;
  LrpResult from = lrp_pass(m, x, cfg, q);
  Tensor seed = from.relevance[m.value_id("relu2")];
  const Tensor& act = from.tape.values[m.value_id("relu2")];
  for (int64_t i = 0; i < act.numel(); ++i) {
    const int64_t c = (i / 16) % 6;
    CHECK(seed.item(i) == (c == 2 ? act.item(i) : 0.0));
  }
  CHECK_FALSE(from.relevance[m.value_id("fc")].defined());
  Tensor Rx = lrp_attribution(m, x, cfg, q);
  CHECK(Rx.shape() == x.shape());
  q.unit = 6;
  CHECK_THROWS_WITH_AS(lrp_attribution(m, x, cfg, q), doctest::Contains("out of range"), Error);
  q.unit = -1;
  CHECK_THROWS_WITH_AS(lrp_attribution(m, x, cfg, q), doctest::Contains("give --unit"), Error);
  q.from = "nonexistent";
  q.unit = 0;
  CHECK_THROWS_AS(lrp_attribution(m, x, cfg, q), Error);
}

TEST_CASE("lrp: samples are independent and the pass is deterministic") {
  Rng rng(12);
  Model m = make_cnn(rng, true);
  Tensor x = random_tensor({3, 1, 8, 8}, rng, 0, 1);
  LrpConfig cfg;
  cfg.composite = "epsilon-gamma-box";
  LrpQuery q;
  q.targets = {0, 1, 2};
  Tensor R = lrp_attribution(m, x, cfg, q);
  CHECK(bitwise_equal(R, lrp_attribution(m, x, cfg, q)));
  // Same bits for any thread count, on fashion-cnn in float32 (large enough to be split across threads).
  Model cnn = build_zoo_model("fashion-cnn", 1);
  Tensor img = random_tensor({4, 1, 28, 28}, rng, 0, 1).to(DType::F32);
  LrpQuery q4;
  q4.targets = {0, 3, 5, 9};
  const int threads = num_threads();
  set_num_threads(1);
  Tensor ref = lrp_attribution(cnn, img, cfg, q4);
  for (int t : {2, 4}) {
    set_num_threads(t);
    CHECK(bitwise_equal(ref, lrp_attribution(cnn, img, cfg, q4)));
  }
  set_num_threads(threads);
  LrpQuery one;
  one.targets = {1};
  Tensor R1 = lrp_attribution(m, x.slice_batch(1, 2).clone(), cfg, one);
  CHECK(max_rel_diff(R1, R.slice_batch(1, 2).clone()) < 1e-13);
}

// The attention building blocks of ONNX graphs (layers/matmul.h, softmax.h, binary.h), each by hand.
TEST_CASE("lrp: MatMul uniform rule, Softmax AttnLRP rule, Binary scale / product / difference by hand") {
  Rng rng(11);
  auto run = [](Layer& layer, const std::vector<Tensor>& x, const Tensor& R) {
    Saved saved;
    layer.forward(x, saved, ForwardOptions{});
    Rule rule;  // "epsilon"
    rule.epsilon = 1e-13;
    return layer.relevance({R}, saved, rule);
  };
  auto total = [](const Tensor& t) {
    double s = 0;
    for (int64_t i = 0; i < t.numel(); ++i) s += t.item(i);
    return s;
  };
  // MatMul (2, 3) x (3, 4): R_a[i,k] = ½ Σ_j a_ik b_kj R_ij / y_ij, R_b[k,j] = ½ Σ_i (same); Σ = Σ R.
  const Tensor a = random_tensor({2, 3}, rng, 0.5, 1.5), b = random_tensor({3, 4}, rng, 0.5, 1.5);
  const Tensor R = random_tensor({2, 4}, rng, -1.0, 1.0);
  MatMul mm;
  const auto rm = run(mm, {a, b}, R);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t k = 0; k < 3; ++k) {
      double want = 0;
      for (int64_t j = 0; j < 4; ++j) {
        double y = 0;
        for (int64_t q = 0; q < 3; ++q) y += a.item(i * 3 + q) * b.item(q * 4 + j);
        want += 0.5 * a.item(i * 3 + k) * b.item(k * 4 + j) * R.item(i * 4 + j) / y;
      }
      CHECK(rm[0].item(i * 3 + k) == doctest::Approx(want).epsilon(1e-9));
    }
  CHECK(total(rm[0]) + total(rm[1]) == doctest::Approx(total(R)).epsilon(1e-9));
  CHECK(total(rm[0]) == doctest::Approx(total(rm[1])).epsilon(1e-9));  // half each
  // Softmax over the last axis: R_x = x ⊙ (R − y Σ R); an entry at −∞ (masked) gets 0, not NaN.
  Tensor x = random_tensor({2, 4}, rng, -2.0, 2.0);
  x.set_item(3, -std::numeric_limits<double>::infinity());
  Tensor Rs = random_tensor({2, 4}, rng, -1.0, 1.0);
  Rs.set_item(3, 0.0);
  Softmax sm;
  const auto rs = run(sm, {x}, Rs);
  const Tensor y = ops::softmax(x, -1);
  for (int64_t n = 0; n < 2; ++n) {
    const double sumR = Rs.item(n * 4) + Rs.item(n * 4 + 1) + Rs.item(n * 4 + 2) + Rs.item(n * 4 + 3);
    for (int64_t j = 0; j < 4; ++j) {
      const int64_t i = n * 4 + j;
      const double want = i == 3 ? 0.0 : x.item(i) * (Rs.item(i) - y.item(i) * sumR);
      CHECK(rs[0].item(i) == doctest::Approx(want).epsilon(1e-12));
    }
  }
  // Binary: a constant factor or divisor passes R on whole; a product of activations splits it ½ / ½;
  // a difference splits it a : −b.
  const Tensor u = random_tensor({2, 3}, rng, 0.5, 1.5), v = random_tensor({2, 3}, rng, 0.5, 1.5);
  const Tensor c = random_tensor({3}, rng, 0.5, 1.5), Rb = random_tensor({2, 3}, rng, -1.0, 1.0);
  Binary scale_by_const(ops::Binary::Mul, -1, 1), div_by_const(ops::Binary::Div, -1, 1), product(ops::Binary::Mul),
      difference(ops::Binary::Sub);
  const auto r1 = run(scale_by_const, {u, c}, Rb), r2 = run(div_by_const, {u, c}, Rb), r3 = run(product, {u, v}, Rb),
             r4 = run(difference, {u, v}, Rb);
  CHECK(!r1[1].defined());
  CHECK(!r2[1].defined());
  for (int64_t i = 0; i < 6; ++i) {
    CHECK(r1[0].item(i) == doctest::Approx(Rb.item(i)).epsilon(1e-9));
    CHECK(r2[0].item(i) == doctest::Approx(Rb.item(i)).epsilon(1e-9));
    CHECK(r3[0].item(i) == doctest::Approx(0.5 * Rb.item(i)).epsilon(1e-9));
    CHECK(r3[1].item(i) == doctest::Approx(0.5 * Rb.item(i)).epsilon(1e-9));
    const double d = u.item(i) - v.item(i);
    CHECK(r4[0].item(i) == doctest::Approx(u.item(i) * Rb.item(i) / d).epsilon(1e-6));
    CHECK(r4[1].item(i) == doctest::Approx(-v.item(i) * Rb.item(i) / d).epsilon(1e-6));
  }
  Binary maximum(ops::Binary::Max);
  CHECK_THROWS_AS(run(maximum, {u, v}, Rb), Error);
}
