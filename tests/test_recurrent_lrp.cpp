// LRP of recurrent layers beyond test_sequence.cpp's LSTM cases: the GRU's signal-take-all rule
// (layers/gru.h) against an element-by-element oracle and by conservation, and initial states that are
// constants made at run time (Slice(ConstantOfShape) in exported graphs), which must absorb relevance
// like a bias instead of asking ConstantOfShape for a rule.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "engine/ops.h"
#include "explain/lrp/lrp.h"
#include "layers/flatten.h"
#include "layers/gru.h"
#include "layers/linear.h"
#include "layers/lstm.h"
#include "layers/registry.h"
#include "layers/shape_ops.h"
#include "models/model.h"

using namespace xdnn;
using namespace xdnn::explain::lrp;

namespace {

double sigm(double v) { return 1.0 / (1.0 + std::exp(-v)); }
double stab(double v, double eps) { return v + (v >= 0 ? eps : -eps); }

// One-layer, one-direction GRU with biases, forward and LRP-ε written out per element: relevance R_out
// (N, H) at h_T only. Each product of the rule is a contribution z_ij / stab(z_j) · R_j summed
// explicitly (Bach et al. 2015, eq. 58 with ε), so the oracle shares no code path with layers/gru.cpp.
Tensor oracle_gru_lrp(const GRU& gru, const Tensor& x, const Tensor& R_out, double eps) {
  GRU& g = const_cast<GRU&>(gru);
  const Tensor &W = g.weight_ih(0, 0).value, &U = g.weight_hh(0, 0).value;
  const Tensor &bi = g.bias_ih(0, 0).value, &bh = g.bias_hh(0, 0).value;
  const int64_t N = x.dim(0), T = x.dim(1), I = x.dim(2), H = U.dim(1);
  Tensor Rx({N, T, I}, DType::F64);
  for (int64_t n = 0; n < N; ++n) {
    // Forward, keeping every step's h_{t-1}, r, z, n, the n pre-activation a and h_t.
    std::vector<std::vector<double>> hp(T), r(T), z(T), nn(T), a(T), ht(T);
    std::vector<double> h(H, 0.0);
    for (int64_t t = 0; t < T; ++t) {
      hp[t] = h;
      r[t].resize(H), z[t].resize(H), nn[t].resize(H), a[t].resize(H), ht[t].resize(H);
      for (int64_t j = 0; j < H; ++j) {
        double gi[3], gh[3];
        for (int q = 0; q < 3; ++q) {
          gi[q] = bi.item(q * H + j), gh[q] = bh.item(q * H + j);
          for (int64_t i = 0; i < I; ++i) gi[q] += W.item((q * H + j) * I + i) * x.item((n * T + t) * I + i);
          for (int64_t k = 0; k < H; ++k) gh[q] += U.item((q * H + j) * H + k) * hp[t][k];
        }
        r[t][j] = sigm(gi[0] + gh[0]), z[t][j] = sigm(gi[1] + gh[1]);
        a[t][j] = gi[2] + r[t][j] * gh[2];
        nn[t][j] = std::tanh(a[t][j]);
        ht[t][j] = (1 - z[t][j]) * nn[t][j] + z[t][j] * hp[t][j];
      }
      h = ht[t];
    }
    // Backward over the steps.
    std::vector<double> Rh(H);
    for (int64_t j = 0; j < H; ++j) Rh[j] = R_out.item(n * H + j);
    for (int64_t t = T - 1; t >= 0; --t) {
      std::vector<double> Rprev(H, 0.0);
      for (int64_t j = 0; j < H; ++j) {
        const double Rn = (1 - z[t][j]) * nn[t][j] / stab(ht[t][j], eps) * Rh[j];
        Rprev[j] += z[t][j] * hp[t][j] / stab(ht[t][j], eps) * Rh[j];
        for (int64_t i = 0; i < I; ++i) {
          const double zij = W.item((2 * H + j) * I + i) * x.item((n * T + t) * I + i);
          Rx.set_item((n * T + t) * I + i, Rx.item((n * T + t) * I + i) + zij / stab(a[t][j], eps) * Rn);
        }
        for (int64_t k = 0; k < H; ++k) {
          const double zkj = r[t][j] * U.item((2 * H + j) * H + k) * hp[t][k];
          Rprev[k] += zkj / stab(a[t][j], eps) * Rn;
        }
      }
      Rh = Rprev;
    }
  }
  return Rx;
}

}  // namespace

TEST_CASE("GRU LRP equals an element-by-element oracle of the signal-take-all ε-rule (with biases)") {
  Rng rng(31);
  GRU gru("gru", RecurrentConfig{3, 4, 1, false, true}, DType::F64);
  gru.init(rng);
  const Tensor x = random_tensor({2, 5, 3}, rng);
  Saved saved;
  const std::vector<Tensor> y = gru.forward({x}, saved, {});
  const Tensor R = random_tensor({2, 1, 4}, rng);
  for (double eps : {1e-2, 1e-6}) {
    Rule rule;
    rule.epsilon = eps;
    const Tensor Rx = gru.relevance({Tensor(), R}, saved, rule).at(0);
    const Tensor ref = oracle_gru_lrp(gru, x, R.reshape({2, 4}), eps);
    REQUIRE(Rx.shape() == ref.shape());
    for (int64_t i = 0; i < ref.numel(); ++i) CHECK(Rx.item(i) == doctest::Approx(ref.item(i)).epsilon(1e-10));
  }
}

TEST_CASE("GRU LRP conserves relevance without biases: stacked, bidirectional, lengths, initial state") {
  Rng rng(32);
  for (bool bidi : {false, true}) {
    CAPTURE(bidi);
    GRU gru("gru", RecurrentConfig{3, 4, 2, bidi, false}, DType::F64);
    gru.init(rng);
    const int64_t D = bidi ? 2 : 1;
    const Tensor x = random_tensor({3, 5, 3}, rng), h0 = random_tensor({3, 2 * D, 4}, rng);
    const Tensor lengths = Tensor::from_vector({3}, std::vector<int64_t>{5, 2, 4});
    Saved saved;
    const std::vector<Tensor> y = gru.forward({x, lengths, h0}, saved, {});
    const Tensor Ry = ops::mul(random_tensor(y[0].shape(), rng), ops::unary(ops::Unary::Abs, y[0])),
                 Rh = random_tensor(y[1].shape(), rng);
    Rule rule;
    rule.epsilon = 1e-12;
    const std::vector<Tensor> Rin = gru.relevance({Ry, Rh}, saved, rule);
    REQUIRE(Rin.size() == 3);
    REQUIRE(Rin[0].shape() == x.shape());
    REQUIRE(Rin[2].shape() == h0.shape());
    for (int64_t n = 0; n < 3; ++n) {
      const double in = ops::sum_all(Rin[0].slice_batch(n, n + 1)) + ops::sum_all(Rin[2].slice_batch(n, n + 1));
      const double out = ops::sum_all(Ry.slice_batch(n, n + 1)) + ops::sum_all(Rh.slice_batch(n, n + 1));
      CHECK(in == doctest::Approx(out).epsilon(1e-8));
    }
    // Padded steps (t ≥ length) give their inputs nothing.
    for (int64_t t = 2; t < 5; ++t)
      for (int64_t i = 0; i < 3; ++i) CHECK(Rin[0].item((1 * 5 + t) * 3 + i) == 0.0);
  }
  GRU gru("gru", RecurrentConfig{2, 2, 1, false, true}, DType::F64);
  Saved s;
  gru.forward({Tensor({1, 2, 2}, DType::F64)}, s, {});
  Rule zplus;
  zplus.name = "zplus";
  CHECK_THROWS_WITH_AS(gru.relevance({Tensor(), Tensor({1, 1, 2}, DType::F64)}, s, zplus),
                       doctest::Contains("layer kind GRU has no LRP rule 'zplus'; it has: epsilon"), Error);
}

namespace {

// x (N, 4, 3) -> recurrent (2 layers, bidirectional, hidden 5) with initial states from
// ConstantOfShape(shape, fill) when `constant_states`, else none -> h_n flattened -> Linear(20, 3):
// the pattern of an exported stacked LSTM / GRU whose zero states come through ConstantOfShape.
Model recurrent_model(bool lstm, bool constant_states, double fill, Rng& rng) {
  std::shared_ptr<Recurrent> rnn;
  const RecurrentConfig cfg{3, 5, 2, true, true};
  if (lstm)
    rnn = std::make_shared<LSTM>("rnn", cfg, DType::F64);
  else
    rnn = std::make_shared<GRU>("rnn", cfg, DType::F64);
  rnn->init(rng);
  auto fc = std::make_shared<Linear>("fc", 20, 3, true, DType::F64);
  fc->init(rng);
  Model m;
  m.add_input("x");
  std::vector<std::string> in = {"x"};
  if (constant_states) {
    m.add_constant("state_shape", Tensor::from_vector({3}, std::vector<int64_t>{2, 4, 5}));
    m.add_constant("fill", Tensor::from_vector({1}, std::vector<double>{fill}));
    m.add_node("zeros", std::make_shared<ConstantOfShape>(), {"state_shape", "fill"}, {"state"});
    in = {"x", "", "state"};
    if (lstm) in.push_back("state");
  }
  std::vector<std::string> out = {"y", "h_n"};
  if (lstm) out.push_back("c_n");
  m.add_node("rnn", rnn, in, out);
  m.add_node("flatten", std::make_shared<Flatten>(), {"h_n"}, {"flat"});
  m.append("fc", fc);
  m.set_outputs({"fc"});
  m.to(DType::F64);
  return m;
}

}  // namespace

TEST_CASE("LRP through stacked bidirectional LSTM / GRU whose initial states are ConstantOfShape constants") {
  for (bool lstm : {true, false}) {
    CAPTURE(lstm);
    Rng a(40), b(40), c(40);
    const Model with_states = recurrent_model(lstm, true, 0.0, a);
    const Model without = recurrent_model(lstm, false, 0.0, b);
    const Model nonzero = recurrent_model(lstm, true, 0.3, c);
    Rng rng(41);
    const Tensor x = random_tensor({2, 4, 3}, rng);
    LrpConfig cfg;
    cfg.params.epsilon = 1e-6;
    LrpQuery q;
    q.targets = {0, 2};
    // Zero states: the state relevance h_{t−1} ⊙ (·) is 0, so the input relevance is the stateless one.
    const Tensor r0 = lrp_attribution(with_states, x, cfg, q), r1 = lrp_attribution(without, x, cfg, q);
    REQUIRE(r0.shape() == x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) CHECK(r0.item(i) == doctest::Approx(r1.item(i)).epsilon(1e-12));
    // Non-zero constant states take their share, absorbed at the constant like a bias: finite, no error.
    const Tensor r2 = lrp_attribution(nonzero, x, cfg, q);
    for (int64_t i = 0; i < x.numel(); ++i) CHECK(std::isfinite(r2.item(i)));
    CHECK(ops::dot_all(r2, r2) > 0);
  }
}
