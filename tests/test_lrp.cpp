// LRP (explain/lrp, layers/lrp_rules): each linear rule against an independent dense-matrix
// implementation of its formula (float64, 1e-10); whole-model properties (conservation of LRP-0 without
// bias, LRP-0 = gradient × input on bias-free ReLU nets, z⁺ sign preservation); composites, rule maps
// and their validation; batch-norm folding; relevance at and from hidden values.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>

#include "engine/ops.h"
#include "engine/parallel.h"
#include "explain/common.h"
#include "explain/lrp/canonizer.h"
#include "explain/lrp/composite.h"
#include "explain/lrp/lrp.h"
#include "layers/add.h"
#include "layers/avgpool2d.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/embedding.h"
#include "layers/flatten.h"
#include "layers/global_avg_pool.h"
#include "layers/linear.h"
#include "layers/lrp_rules.h"
#include "layers/lstm.h"
#include "layers/maxpool2d.h"
#include "layers/registry.h"
#include "layers/relu.h"
#include "models/onnx/import.h"
#include "models/zoo.h"
#include "tests/gradcheck.h"

using namespace xdnn;
using namespace xdnn::explain::lrp;
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
      for (int64_t n = 0; n < N; ++n) {
        auto ref = reference_rule(d, to_vec(x.slice_batch(n, n + 1)), to_vec(R.slice_batch(n, n + 1)), rule);
        Tensor want = Tensor::from_vector(sample_shape, ref);
        INFO(layer.kind(), " rule ", name, " bias_out ", bias_out, " sample ", n);
        CHECK(max_rel_diff(got.slice_batch(n, n + 1), want) < 1e-10);
      }
    }
  }
}

// Signed input, and its ReLU (no negative part: the rules' fast path that skips the x⁻ terms).
void check_rules_against_dense(Layer& layer, const Tensor& x, Rng& rng) {
  check_rules_against_dense_once(layer, x, rng);
  check_rules_against_dense_once(layer, ops::unary(ops::Unary::Relu, x), rng);
}

// Test-local batch norm (inference): y = γ (x − mean)/sqrt(var + eps) + β along axis 1. Its kind makes
// the canonizer treat it as a BatchNorm; it is used until the real BatchNorm2d exists in every build.
class TestBatchNorm : public Layer {
 public:
  TestBatchNorm(int64_t C, Rng& rng) {
    g_ = random_tensor({C}, rng, 0.5, 1.5);
    b_ = random_tensor({C}, rng, -0.5, 0.5);
    mean_ = random_tensor({C}, rng, -0.5, 0.5);
    var_ = random_tensor({C}, rng, 0.2, 2.0);
    p_ = {"bn.weight", g_, {}};
  }
  const char* kind() const override { return "BatchNorm2d"; }
  std::vector<Param*> params() override { return {&p_}; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x, Saved&, const ForwardOptions&) override {
    const Tensor& in = x.at(0);
    const int64_t C = in.dim(1), S = in.numel() / (in.dim(0) * C);
    if (C != g_.numel()) throw Error("TestBatchNorm: channel mismatch");
    Tensor y(in.shape(), in.dtype());
    for (int64_t i = 0; i < in.numel(); ++i) {
      int64_t c = (i / S) % C;
      y.set_item(i, g_.item(c) * (in.item(i) - mean_.item(c)) / std::sqrt(var_.item(c) + 1e-5) + b_.item(c));
    }
    return {y};
  }
  std::vector<Tensor> backward(const std::vector<Tensor>&, const Saved&, const BackwardOptions&) override {
    throw Error("TestBatchNorm: no backward");
  }
  double k(int64_t c) const { return g_.item(c) / std::sqrt(var_.item(c) + 1e-5); }

 private:
  Tensor g_, b_, mean_, var_;
  Param p_;
};

std::shared_ptr<Linear> make_linear(const std::string& name, int64_t in, int64_t out, bool bias, Rng& rng) {
  auto l = std::make_shared<Linear>(name, in, out, bias, DType::F64);
  l->init(rng);
  return l;
}

std::shared_ptr<Conv2d> make_conv(const std::string& name, int64_t in, int64_t out, bool bias, Rng& rng) {
  auto c = std::make_shared<Conv2d>(name, in, out, 3, 3, Conv2dOptions::same(1, 1, 1, 1, bias), DType::F64);
  c->init(rng);
  return c;
}

// mlp: Flatten, Linear(16, 12), ReLU, Linear(12, 5) on (N, 1, 4, 4).
Model make_mlp(Rng& rng, bool bias) {
  Model m;
  m.add_input("input");
  m.append("flatten", std::make_shared<Flatten>());
  m.append("fc1", make_linear("fc1", 16, 12, bias, rng));
  m.append("relu1", std::make_shared<ReLU>());
  m.append("fc2", make_linear("fc2", 12, 5, bias, rng));
  m.to(DType::F64);
  return m;
}

// cnn: Conv(1→4), ReLU, MaxPool 2, Conv(4→6), ReLU, MaxPool 2, Flatten, Linear(6·2·2, 5) on (N, 1, 8, 8).
Model make_cnn(Rng& rng, bool bias) {
  Model m;
  m.add_input("input");
  m.append("conv1", make_conv("conv1", 1, 4, bias, rng));
  m.append("relu1", std::make_shared<ReLU>());
  m.append("pool1", std::make_shared<MaxPool2d>(2));
  m.append("conv2", make_conv("conv2", 4, 6, bias, rng));
  m.append("relu2", std::make_shared<ReLU>());
  m.append("pool2", std::make_shared<MaxPool2d>(2));
  m.append("flatten", std::make_shared<Flatten>());
  m.append("fc", make_linear("fc", 24, 5, bias, rng));
  m.to(DType::F64);
  return m;
}

// Residual cnn: conv1, relu1, conv2, add(relu1, conv2), relu2, avgpool 2, maxpool 2, flatten, fc on
// (N, 1, 8, 8).
Model make_residual_cnn(Rng& rng, bool bias) {
  Model m;
  m.add_input("input");
  m.append("conv1", make_conv("conv1", 1, 4, bias, rng));
  m.append("relu1", std::make_shared<ReLU>());
  m.append("conv2", make_conv("conv2", 4, 4, bias, rng));
  m.add_node("add", std::make_shared<Add>(), {"relu1", "conv2"}, {"add"});
  m.append("relu2", std::make_shared<ReLU>());
  m.append("avgpool", std::make_shared<AvgPool2d>(2));
  m.append("maxpool", std::make_shared<MaxPool2d>(2));
  m.append("flatten", std::make_shared<Flatten>());
  m.append("fc", make_linear("fc", 16, 5, bias, rng));
  m.to(DType::F64);
  return m;
}

// Relevance at the input under LRP-0 with every stabiliser (the norm rules of Add and the pools included)
// shrunk to 1e-300: it changes no non-zero denominator in float64, and 0/stab(0) stays 0 (an all-zero
// pooling window), so conservation and LRP-0 = gradient × input hold exactly.
Tensor lrp0_exact(const Model& m, const Tensor& x, const std::vector<int64_t>& targets, bool bias_out) {
  RuleParams p;
  p.bias_out = bias_out;
  p.epsilon = 1e-300;
  std::vector<Rule> rules = uniform_rules(m, "epsilon", p);
  for (auto& r : rules) r.stabilizer = 1e-300;
  Tape tape = m.forward({x});
  const int out = m.outputs()[0];
  auto rel = m.relevance(tape, {{out, logit_seed(tape.values[out], targets)}}, [&](int k) { return rules[k]; });
  return rel[m.inputs()[0]];
}

std::vector<int64_t> argmax_targets(const Model& m, const Tensor& x) { return explain::argmax_rows(m.predict(x)); }

double sample_sum(const Tensor& t, int64_t n) { return ops::sum_all(t.slice_batch(n, n + 1)); }

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
  CHECK_THROWS_WITH_AS(composite_rules(cnn, "epsilon-minus", p), doctest::Contains("known composites"), Error);
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

TEST_CASE("lrp canonizer: batch norm folded into the preceding Conv / Linear keeps the outputs") {
  Rng rng(10);
  Model m;
  m.add_input("input");
  m.append("conv1", make_conv("conv1", 1, 3, true, rng));
  m.append("bn1", std::make_shared<TestBatchNorm>(3, rng));
  m.append("relu1", std::make_shared<ReLU>());
  m.append("conv2", make_conv("conv2", 3, 2, false, rng));  // bias-free conv: b = 0 in the fold
  m.append("bn2", std::make_shared<TestBatchNorm>(2, rng));
  m.append("pool", std::make_shared<MaxPool2d>(2));
  m.append("bn3", std::make_shared<TestBatchNorm>(2, rng));  // after a pool: not foldable
  m.append("flatten", std::make_shared<Flatten>());
  m.append("fc", make_linear("fc", 8, 4, true, rng));
  m.append("bn4", std::make_shared<TestBatchNorm>(4, rng));
  m.to(DType::F64);
  Tensor x = random_tensor({3, 1, 4, 4}, rng, 0, 1);
  CanonizeReport rep;
  Model f = fold_batchnorm(m, &rep);
  CHECK(rep.folded == std::vector<std::string>{"bn1 into conv1", "bn2 into conv2", "bn4 into fc"});
  CHECK(rep.unfolded == std::vector<std::string>{"bn3"});
  CHECK(testing::rel_l2(f.predict(x), m.predict(x)) < 1e-12);
  CHECK(std::string(m.nodes()[1].layer->kind()) == "BatchNorm2d");  // the original is untouched
  // Folded weights: W' = k W along the output axis.
  auto* bn1 = dynamic_cast<TestBatchNorm*>(m.nodes()[1].layer.get());
  const Tensor& W = m.nodes()[0].layer->as_linear()->weight();
  const Tensor& W2 = f.nodes()[0].layer->as_linear()->weight();
  for (int64_t i = 0; i < W.numel(); ++i) CHECK(std::abs(W2.item(i) - bn1->k(i / 9) * W.item(i)) < 1e-12);
  // The composite sees the folded Conv as a Conv, the unfolded BN as an affine map (epsilon).
  auto rules = composite_rules(f, "epsilon-plus", RuleParams{});
  CHECK(rules[0].name == "zplus");
  CHECK(rules[1].name == "pass");
  CHECK(rules[6].name == "epsilon");
  // LRP-0 without bias still conserves relevance through the folded and the affine batch norms.
  LrpConfig cfg;
  cfg.rule = "zero";
  cfg.params.bias_out = true;
  LrpQuery q;
  q.targets = {0, 1, 2};
  Tensor R = lrp_attribution(m, x, cfg, q);
  Tensor logits = m.predict(x);
  for (int64_t n = 0; n < 3; ++n)
    CHECK(std::abs(sample_sum(R, n) - logits.item(n * 4 + n)) < 1e-9 * std::max(1.0, std::abs(logits.item(n * 4 + n))));
}

TEST_CASE("lrp canonizer: the layers' BatchNorm2d (eval statistics) folds and keeps the outputs") {
  Rng rng(14);
  auto bn = std::make_shared<BatchNorm2d>("bn1", 3, 1e-5, 0.1, DType::F64);
  bn->weight_param().value = random_tensor({3}, rng, 0.5, 1.5);
  bn->bias_param().value = random_tensor({3}, rng, -0.5, 0.5);
  bn->running_mean_param().value = random_tensor({3}, rng, -0.5, 0.5);
  bn->running_var_param().value = random_tensor({3}, rng, 0.2, 2.0);
  Model m;
  m.add_input("input");
  m.append("conv1", make_conv("conv1", 2, 3, true, rng));
  m.append("bn1", bn);
  m.append("relu1", std::make_shared<ReLU>());
  m.append("flatten", std::make_shared<Flatten>());
  m.append("fc", make_linear("fc", 48, 4, true, rng));
  m.to(DType::F64);
  Tensor x = random_tensor({2, 2, 4, 4}, rng, 0, 1);
  CanonizeReport rep;
  Model f = fold_batchnorm(m, &rep);
  REQUIRE(rep.folded.size() == 1);
  CHECK(testing::rel_l2(f.predict(x), m.predict(x)) < 1e-12);
  // W' = k W, b' = k (b − mean) + β with the layer's own statistics.
  const LinearLike* c0 = m.nodes()[0].layer->as_linear();
  const LinearLike* c1 = f.nodes()[0].layer->as_linear();
  for (int64_t o = 0; o < 3; ++o) {
    const double k = bn->gamma().item(o) / std::sqrt(bn->running_var().item(o) + bn->eps());
    CHECK(std::abs(c1->bias().item(o) - (k * (c0->bias().item(o) - bn->running_mean().item(o)) + bn->beta().item(o))) <
          1e-12);
    CHECK(std::abs(c1->weight().item(o * 18 + 5) - k * c0->weight().item(o * 18 + 5)) < 1e-12);
  }
}

TEST_CASE("lrp on fashion-resnet (four batch norms folded, residual block): outputs kept, exact conservation") {
  Rng rng(15);
  Model m = build_zoo_model("fashion-resnet", 4);
  m.to(DType::F64);
  for (const Node& node : m.nodes()) {  // non-trivial statistics (the zoo starts at mean 0, var 1)
    if (!is_batchnorm(*node.layer)) continue;
    for (Param* p : node.layer->params()) p->value = random_tensor(p->value.shape(), rng, 0.5, 1.5);
    for (Param* b : node.layer->buffers()) b->value = random_tensor(b->value.shape(), rng, 0.2, 1.2);
  }
  Tensor x = random_tensor({2, 1, 28, 28}, rng, 0, 1);
  CanonizeReport rep;
  Model f = fold_batchnorm(m, &rep);
  CHECK(rep.folded.size() == 4);
  CHECK(rep.unfolded.empty());
  Tensor y = m.predict(x);
  CHECK(testing::rel_l2(f.predict(x), y) < 1e-12);
  const std::vector<int64_t> targets = explain::argmax_rows(y);
  Tensor R = lrp0_exact(f, x, targets, /*bias_out=*/true);
  for (int64_t n = 0; n < 2; ++n) {
    const double fk = y.item(n * 10 + targets[n]);
    CHECK(std::abs(sample_sum(R, n) - fk) < 1e-9 * std::max(1.0, std::abs(fk)));
  }
  // The method folds by itself: epsilon-plus on the unfolded model runs and gives finite relevance.
  LrpConfig cfg;
  cfg.composite = "epsilon-plus";
  LrpQuery q;
  q.targets = targets;
  Tensor Rc = lrp_attribution(m, x, cfg, q);
  CHECK(std::isfinite(ops::dot_all(Rc, Rc)));
}

namespace {

void onnx_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(v.size() == 1 && name == "transB" ? onnx::AttributeProto::INT : onnx::AttributeProto::INTS);
  if (a->type() == onnx::AttributeProto::INT)
    a->set_i(v[0]);
  else
    for (int64_t x : v) a->add_ints(x);
}

void onnx_init(onnx::ModelProto& m, const std::string& name, const Tensor& t) {
  auto* p = m.mutable_graph()->add_initializer();
  p->set_name(name);
  p->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : t.shape()) p->add_dims(d);
  for (int64_t i = 0; i < t.numel(); ++i) p->add_float_data(static_cast<float>(t.item(i)));
}

onnx::NodeProto* onnx_node(onnx::ModelProto& m, const std::string& op, const std::vector<std::string>& ins,
                           const std::string& out) {
  auto* n = m.mutable_graph()->add_node();
  n->set_op_type(op);
  n->set_name("/" + out + "/" + op);
  for (const auto& i : ins) n->add_input(i);
  n->add_output(out);
  return n;
}

}  // namespace

TEST_CASE("lrp through ONNX import: BatchNormalization folded, AveragePool / Add / GlobalAveragePool norm rules") {
  // x (N,2,6,6) -> Conv 3x3 p1 -> BatchNormalization -> Relu -> AveragePool 2 -> Conv 3x3 p1 -> Relu
  //   -> Add(with the pool output) -> GlobalAveragePool -> Flatten -> Gemm(transB) -> logits (N,3)
  // The same network built natively with the batch norm folded by hand (in double) must give the same
  // relevance under every composite: the method folds BatchNormalization before choosing rules.
  Rng rng(17);
  auto f32 = [&](const Shape& s, double lo, double hi) { return random_tensor(s, rng, lo, hi).to(DType::F32); };
  Tensor w1 = f32({4, 2, 3, 3}, -0.5, 0.5), b1 = f32({4}, -0.2, 0.2), w2 = f32({4, 4, 3, 3}, -0.5, 0.5),
         b2 = f32({4}, -0.2, 0.2), wf = f32({3, 4}, -1, 1), bf = f32({3}, -0.2, 0.2);
  Tensor g = f32({4}, 0.5, 1.5), be = f32({4}, -0.3, 0.3), mu = f32({4}, -0.3, 0.3), var = f32({4}, 0.3, 1.5);
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* in = m.mutable_graph()->add_input();
  in->set_name("input");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_param("N");
  for (int64_t d : {2, 6, 6}) tt->mutable_shape()->add_dim()->set_dim_value(d);
  for (auto& [name, t] : std::vector<std::pair<std::string, Tensor>>{{"conv1.weight", w1},
                                                                     {"conv1.bias", b1},
                                                                     {"conv2.weight", w2},
                                                                     {"conv2.bias", b2},
                                                                     {"fc.weight", wf},
                                                                     {"fc.bias", bf},
                                                                     {"bn.weight", g},
                                                                     {"bn.bias", be},
                                                                     {"bn.running_mean", mu},
                                                                     {"bn.running_var", var}})
    onnx_init(m, name, t);
  onnx_ints(onnx_node(m, "Conv", {"input", "conv1.weight", "conv1.bias"}, "c1"), "pads", {1, 1, 1, 1});
  onnx_node(m, "BatchNormalization", {"c1", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"}, "bn1");
  onnx_node(m, "Relu", {"bn1"}, "r1");
  onnx_ints(onnx_node(m, "AveragePool", {"r1"}, "p1"), "kernel_shape", {2, 2});
  m.mutable_graph()->mutable_node()->rbegin()->add_attribute()->CopyFrom([] {
    onnx::AttributeProto a;
    a.set_name("strides");
    a.set_type(onnx::AttributeProto::INTS);
    a.add_ints(2);
    a.add_ints(2);
    return a;
  }());
  onnx_ints(onnx_node(m, "Conv", {"p1", "conv2.weight", "conv2.bias"}, "c2"), "pads", {1, 1, 1, 1});
  onnx_node(m, "Relu", {"c2"}, "r2");
  onnx_node(m, "Add", {"r2", "p1"}, "sum");
  onnx_node(m, "GlobalAveragePool", {"sum"}, "gap");
  onnx_node(m, "Flatten", {"gap"}, "flat");
  onnx_ints(onnx_node(m, "Gemm", {"flat", "fc.weight", "fc.bias"}, "logits"), "transB", {1});
  m.mutable_graph()->add_output()->set_name("logits");
  Model onnx_model = import_onnx_model(m, "lrp-test.onnx");

  // Native twin with conv1 ∘ bn folded in double.
  Model nat;
  nat.add_input("input");
  auto c1 = std::make_shared<Conv2d>("conv1", 2, 4, 3, 3, Conv2dOptions::same(1, 1), DType::F32);
  for (int64_t o = 0; o < 4; ++o) {
    const double k = g.item(o) / std::sqrt(var.item(o) + 1e-5);
    for (int64_t i = 0; i < 18; ++i) c1->weight_param().value.set_item(o * 18 + i, k * w1.item(o * 18 + i));
    c1->bias_param().value.set_item(o, k * (b1.item(o) - mu.item(o)) + be.item(o));
  }
  auto c2 = std::make_shared<Conv2d>("conv2", 4, 4, 3, 3, Conv2dOptions::same(1, 1), DType::F32);
  c2->weight_param().value = w2.clone();
  c2->bias_param().value = b2.clone();
  auto fc = std::make_shared<Linear>("fc", 4, 3, true, DType::F32);
  fc->params()[0]->value = wf.clone();
  fc->params()[1]->value = bf.clone();
  nat.append("c1", c1);
  nat.append("r1", std::make_shared<ReLU>());
  nat.append("p1", std::make_shared<AvgPool2d>(2));
  nat.append("c2", c2);
  nat.append("r2", std::make_shared<ReLU>());
  nat.add_node("add", std::make_shared<Add>(), {"r2", "p1"}, {"sum"});
  nat.append("gap", std::make_shared<GlobalAvgPool>());
  nat.append("flat", std::make_shared<Flatten>());
  nat.append("fc", fc);

  Tensor x = f32({3, 2, 6, 6}, 0, 1);
  CHECK(testing::rel_l2(onnx_model.predict(x), nat.predict(x)) < 1e-5);
  LrpQuery q;
  q.targets = {0, 1, 2};
  for (const char* comp : {"epsilon-plus", "epsilon-gamma-box", "epsilon-alpha2-beta1"}) {
    LrpConfig cfg;
    cfg.composite = comp;
    INFO(std::string(comp));
    Tensor a = lrp_attribution(onnx_model, x, cfg, q), b = lrp_attribution(nat, x, cfg, q);
    CHECK(testing::rel_l2(a, b) < 1e-4);
    CHECK(ops::dot_all(b, b) > 0);
    // The test can tell: without folding, the bias shares of zplus / alpha-beta differ (the box rule is
    // invariant to a positive per-channel scale and shift, so epsilon-gamma-box cannot tell).
    cfg.canonize = false;
    if (std::string(comp) != "epsilon-gamma-box")
      CHECK(testing::rel_l2(lrp_attribution(onnx_model, x, cfg, q), b) > 1e-2);
  }
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

TEST_CASE("lrp on a token model (Embedding, LSTM, Linear): relevance at the embedding output summed over d") {
  Rng rng(16);
  auto emb = std::make_shared<Embedding>("emb", 20, 6, DType::F64);
  emb->init(rng);
  RecurrentConfig rc;
  rc.input_size = 6;
  rc.hidden_size = 5;
  auto lstm = std::make_shared<LSTM>("lstm", rc, DType::F64);
  lstm->init(rng);
  Model m;
  m.add_input("tokens");
  m.append("emb", emb);
  m.add_node("lstm", lstm, {"emb"}, {"y", "h_n", "c_n"});
  m.add_node("flatten", std::make_shared<Flatten>(), {"h_n"}, {"flat"});
  m.append("fc", make_linear("fc", 5, 3, true, rng));
  m.set_outputs({"fc"});
  m.to(DType::F64);
  Tensor ids = Tensor::from_vector({2, 7}, std::vector<int64_t>{1, 4, 9, 19, 0, 3, 3, 2, 2, 8, 11, 17, 5, 6});
  LrpConfig cfg;
  cfg.rule = "epsilon";
  cfg.params.epsilon = 1e-3;
  LrpQuery q;
  q.targets = {0, 2};
  auto rules = rules_for(m, cfg);
  CHECK(rules[1].name == "epsilon");  // the LSTM takes --rule epsilon with its ε
  CHECK(rules[1].epsilon == 1e-3);
  Tensor R = lrp_attribution(m, ids, cfg, q);
  REQUIRE(R.shape() == Shape{2, 7});
  q.at = "emb";
  Tensor Re = lrp_attribution(m, ids, cfg, q);
  REQUIRE(Re.shape() == Shape{2, 7, 6});
  for (int64_t t = 0; t < 14; ++t) {
    double s = 0;
    for (int64_t d = 0; d < 6; ++d) s += Re.item(t * 6 + d);
    CHECK(std::abs(R.item(t) - s) < 1e-12);
  }
  CHECK(ops::dot_all(R, R) > 0);
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
