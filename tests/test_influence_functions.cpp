// Influence functions (explain/influence): the exact last-layer Hessian against finite differences, CG,
// influence functions on logistic regression against the closed form, and the full-model HVP (R-operator)
// of an MLP against finite differences of the mean gradient (beyond MLPs and LiSSA: test_influence_hvp.cpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "engine/ops.h"
#include "engine/parallel.h"
#include "explain/influence/cg.h"
#include "explain/influence/hessian.h"
#include "explain/influence/hvp.h"
#include "explain/influence/influence.h"
#include "layers/linear.h"
#include "layers/registry.h"
#include "layers/relu.h"
#include "models/io/npy.h"
#include "models/load.h"
#include "models/zoo.h"
#include "tests/gradcheck.h"
#include "tests/influence_fixtures.h"

using namespace xdnn;
using namespace xdnn::influence;
using namespace xdnn::testing;

TEST_CASE("influence: last-layer Hessian equals finite differences of the mean gradient (float64)") {
  Model m = make_mlp(8);
  Rng rng(21);
  Tensor x = random_tensor({9, 6}, rng), y = random_labels(9, 3, rng);
  const LastLayerCurvature c = last_layer_curvature(m, x, 4);
  const Tensor H = last_layer_hessian(c);
  const int64_t P = c.size();
  REQUIRE(P == 18);
  // Column q of H = d/dθ_q of the mean last-layer gradient; θ in the layout [W row-major, b].
  const Selection sel = select_params(m, ParamSet::LastLayer);
  REQUIRE(sel.blocks.size() == 2);
  REQUIRE(sel.blocks[0].name == "fc2.weight");
  REQUIRE(sel.blocks[1].name == "fc2.bias");
  const Tensor Hfd = fd_hessian(m, sel, P, 1e-5, [&] { return mean_example_gradient(m, x, y, ParamSet::LastLayer); });
  double worst = 0;
  for (int64_t q = 0; q < P * P; ++q) worst = std::max(worst, std::abs(Hfd.item(q) - H.item(q)));
  CHECK(worst < 1e-8);
  // Symmetric, positive semi-definite along random directions.
  for (int64_t r = 0; r < P; ++r)
    for (int64_t q = 0; q < P; ++q) CHECK(std::abs(H.item(r * P + q) - H.item(q * P + r)) < 1e-14);

  SUBCASE("HVP equals the explicit Hessian") {
    Tensor V = random_tensor({3, P}, rng);
    const Tensor HV = last_layer_hvp(c, V, 4);
    const Tensor ref = ops::matmul(V, H, false, true);
    CHECK(max_rel_diff(HV, ref) < 1e-13);
    for (int64_t j = 0; j < 3; ++j) CHECK(dot_rows(V, j, HV, j) >= -1e-14);
  }
  SUBCASE("CG solves (H + λI) x = b to its tolerance") {
    Tensor B = random_tensor({2, P}, rng);
    const double lambda = 1e-3;
    CgResult r = conjugate_gradient(
        [&](const Tensor& V) {
          Tensor HV = ops::matmul(V, H, false, true);
          ops::axpy_inplace(HV, lambda, V);
          return HV;
        },
        B, 500, 1e-10);
    CHECK(r.converged);
    CHECK(r.iterations <= 500);
    // Independent residual check.
    Tensor AX = ops::matmul(r.x, H, false, true);
    ops::axpy_inplace(AX, lambda, r.x);
    for (int64_t j = 0; j < 2; ++j) {
      double num = 0, den = 0;
      for (int64_t q = 0; q < P; ++q) {
        num += std::pow(AX.item(j * P + q) - B.item(j * P + q), 2);
        den += std::pow(B.item(j * P + q), 2);
      }
      CHECK(std::sqrt(num / den) < 1e-9);
    }
  }
}

TEST_CASE("influence: influence function on logistic regression equals the closed form") {
  const int64_t d = 3, K = 2, N = 25, T = 3;
  Model m = make_logreg(4, d, K);
  Rng rng(5);
  InfluenceData data;
  data.train_x = random_tensor({N, d}, rng, -2, 2);
  data.train_y = random_labels(N, K, rng);
  data.test_x = random_tensor({T, d}, rng, -2, 2);
  data.test_y = random_labels(T, K, rng);
  InfluenceOptions opt;
  opt.params = ParamSet::LastLayer;
  opt.damping = 0.01;
  opt.cg_tolerance = 1e-12;
  opt.chunk = 8;
  std::vector<Model*> ck = {&m};
  const Tensor I = influence_function(ck, data, opt);
  REQUIRE(I.shape() == Shape{T, N});

  // Closed form, written out: θ = [W (K·d), b (K)], x̃ = [x, 1], p = softmax(W x + b),
  // ∇L = (p − e_y) ⊗ x̃, H = (1/N) Σ (diag p − p pᵀ) ⊗ x̃ x̃ᵀ + λ I.
  const int64_t P = K * d + K;
  const Tensor& W = m.find_param("fc.weight")->value;
  const Tensor& b = m.find_param("fc.bias")->value;
  auto idx = [&](int64_t o, int64_t i) { return i < d ? o * d + i : K * d + o; };
  auto probs_and_features = [&](const Tensor& X, int64_t n, std::vector<double>& p, std::vector<double>& f) {
    f.assign(d + 1, 1.0);
    for (int64_t i = 0; i < d; ++i) f[i] = X.item(n * d + i);
    p.assign(K, 0.0);
    double s = 0;
    for (int64_t o = 0; o < K; ++o) {
      double z = b.item(o);
      for (int64_t i = 0; i < d; ++i) z += W.item(o * d + i) * f[i];
      p[o] = std::exp(z);
      s += p[o];
    }
    for (auto& v : p) v /= s;
  };
  auto grad = [&](const Tensor& X, const Tensor& Y, int64_t n) {
    std::vector<double> p, f, g(P);
    probs_and_features(X, n, p, f);
    for (int64_t o = 0; o < K; ++o)
      for (int64_t i = 0; i <= d; ++i) g[idx(o, i)] = (p[o] - (o == Y.data<int64_t>()[n] ? 1.0 : 0.0)) * f[i];
    return g;
  };
  std::vector<double> H(P * P, 0.0);
  for (int64_t n = 0; n < N; ++n) {
    std::vector<double> p, f;
    probs_and_features(data.train_x, n, p, f);
    for (int64_t a = 0; a < K; ++a)
      for (int64_t c = 0; c < K; ++c)
        for (int64_t i = 0; i <= d; ++i)
          for (int64_t j = 0; j <= d; ++j)
            H[idx(a, i) * P + idx(c, j)] += ((a == c ? p[a] : 0.0) - p[a] * p[c]) * f[i] * f[j] / N;
  }
  for (int64_t q = 0; q < P; ++q) H[q * P + q] += opt.damping;
  double worst = 0, scale = 0;
  for (int64_t j = 0; j < T; ++j) {
    const std::vector<double> s = solve_dense(H, grad(data.test_x, data.test_y, j));
    for (int64_t i = 0; i < N; ++i) {
      const std::vector<double> g = grad(data.train_x, data.train_y, i);
      double want = 0;
      for (int64_t q = 0; q < P; ++q) want -= s[q] * g[q];
      worst = std::max(worst, std::abs(I.item(j * N + i) - want));
      scale = std::max(scale, std::abs(want));
    }
  }
  CHECK(scale > 1e-3);
  CHECK(worst < 1e-9 * scale);
  // For logistic regression every parameter is in the last layer: the R-operator route agrees.
  opt.params = ParamSet::All;
  CHECK(max_rel_diff(influence_function(ck, data, opt), I) < 1e-9);
}

TEST_CASE("influence: full-model HVP (R-operator) equals finite differences of the mean gradient (MLP)") {
  Model m = make_mlp(8);
  Rng rng(23);
  Tensor x = random_tensor({9, 6}, rng), y = random_labels(9, 3, rng);
  FullHvp hvp(m, x, y, 4);
  const Selection sel = select_params(m, ParamSet::All);
  const int64_t P = hvp.size();
  REQUIRE(P == 53);
  const Tensor H = fd_hessian(m, sel, P, 1e-5, [&] { return mean_example_gradient(m, x, y, ParamSet::All); });
  Tensor V = random_tensor({3, P}, rng);
  const Tensor HV = hvp.apply(V);
  const Tensor ref = ops::matmul(V, H, false, true);
  CHECK(max_rel_diff(HV, ref) < 1e-7);
  // Symmetric: u·Hv = v·Hu exactly up to rounding.
  CHECK(std::abs(dot_rows(V, 0, HV, 1) - dot_rows(V, 1, HV, 0)) < 1e-12);

  SUBCASE("influence function with --params all equals a dense solve") {
    InfluenceData data;
    data.train_x = x;
    data.train_y = y;
    data.test_x = random_tensor({2, 6}, rng);
    data.test_y = random_labels(2, 3, rng);
    Tensor Id({P, P}, DType::F64);
    for (int64_t q = 0; q < P; ++q) Id.set_item(q * P + q, 1.0);
    const Tensor Hx = hvp.apply(Id);  // exact H, row by row
    // The MLP's Hessian is indefinite: damp by a Gershgorin bound so that H + λI is positive definite.
    double bound = 0;
    for (int64_t r = 0; r < P; ++r) {
      double row = 0;
      for (int64_t q = 0; q < P; ++q) row += std::abs(Hx.item(r * P + q));
      bound = std::max(bound, row);
    }
    InfluenceOptions opt;
    opt.damping = bound + 0.01;
    opt.cg_tolerance = 1e-12;
    std::vector<Model*> ck = {&m};
    const Tensor I = influence_function(ck, data, opt);
    std::vector<double> A(P * P);
    for (int64_t q = 0; q < P * P; ++q) A[q] = Hx.item(q) + (q / P == q % P ? opt.damping : 0.0);
    const Tensor Gte = batch_of_one_gradients(m, data.test_x, data.test_y);
    const Tensor Gtr = batch_of_one_gradients(m, x, y);
    double worst = 0, scale = 0;
    for (int64_t j = 0; j < 2; ++j) {
      std::vector<double> b(P);
      for (int64_t q = 0; q < P; ++q) b[q] = Gte.item(j * P + q);
      const std::vector<double> s = solve_dense(A, b);
      for (int64_t i = 0; i < 9; ++i) {
        double want = 0;
        for (int64_t q = 0; q < P; ++q) want -= s[q] * Gtr.item(i * P + q);
        worst = std::max(worst, std::abs(I.item(j * 9 + i) - want));
        scale = std::max(scale, std::abs(want));
      }
    }
    CHECK(scale > 1e-3);
    CHECK(worst < 1e-8 * scale);
  }
}
