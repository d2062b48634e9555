// Small float64 models, labels, batch-of-one gradients and a dense solver shared by the influence tests
// (test_influence*.cpp): the direct loops the influence routines are checked against.
#pragma once
#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/random.h"
#include "explain/influence/influence.h"
#include "layers/linear.h"
#include "layers/relu.h"
#include "models/model.h"
#include "tests/model_fixtures.h"

namespace xdnn::testing {

// x (6) -> Linear(6,5) -> ReLU -> Linear(5,3) logits, float64.
inline Model make_mlp(uint64_t seed, int64_t hidden = 5) {
  Rng rng(seed);
  return mlp_f64(rng, "input", 6, hidden, 3);
}

// Multinomial logistic regression: x (d) -> Linear(d, K).
inline Model make_logreg(uint64_t seed, int64_t d, int64_t K) {
  Model m;
  m.add_input("input");
  Rng rng(seed);
  auto fc = std::make_shared<Linear>("fc", d, K, true, DType::F64);
  fc->init(rng);
  m.append("fc", fc);
  m.to(DType::F64);
  return m;
}

inline Tensor random_labels(int64_t n, int64_t K, Rng& rng) {
  Tensor y({n}, DType::I64);
  for (int64_t i = 0; i < n; ++i) y.data<int64_t>()[i] = static_cast<int64_t>(rng.below(K));
  return y;
}

// softmax(z) − onehot(y) for one row, written independently of cross_entropy_seed.
inline Tensor seed_of(const Tensor& logits, int64_t y) {
  const int64_t K = logits.dim(1);
  Tensor d({1, K}, DType::F64);
  double s = 0;
  for (int64_t k = 0; k < K; ++k) s += std::exp(logits.item(k));
  for (int64_t k = 0; k < K; ++k) d.set_item(k, std::exp(logits.item(k)) / s - (k == y ? 1.0 : 0.0));
  return d;
}

// g(x_n, y_n) by one batch-of-one backward pass per example (ParamGrad::Accumulate), over the
// parameters of `names` (every parameter when empty). (N, P).
inline Tensor batch_of_one_gradients(Model& m, const Tensor& x, const Tensor& y,
                                     const std::vector<std::string>& names = {}) {
  std::vector<Param*> ps;
  for (Param* p : m.params())
    if (names.empty() || std::find(names.begin(), names.end(), p->name) != names.end()) ps.push_back(p);
  int64_t P = 0;
  for (Param* p : ps) P += p->value.numel();
  const int64_t N = x.dim(0);
  Tensor G({N, P}, DType::F64);
  for (int64_t n = 0; n < N; ++n) {
    for (Param* p : m.params()) p->grad = Tensor();
    Tape t = m.forward({x.slice_batch(n, n + 1)});
    const int out = m.outputs()[0];
    BackwardOptions bo;
    bo.param_grad = ParamGrad::Accumulate;
    m.backward(t, {{out, seed_of(t.values[out], y.data<int64_t>()[n])}}, bo);
    int64_t off = 0;
    for (Param* p : ps) {
      for (int64_t i = 0; i < p->value.numel(); ++i) G.set_item(n * P + off + i, p->grad.item(i));
      off += p->value.numel();
    }
  }
  for (Param* p : m.params()) p->grad = Tensor();
  return G;
}

// Mean over the N examples of x of the per-example loss gradients of `set`: (P) in select_params' layout.
inline std::vector<double> mean_example_gradient(Model& m, const Tensor& x, const Tensor& y, influence::ParamSet set) {
  const Tensor G = influence::per_example_gradients(m, x, y, set);  // (N, P)
  const int64_t N = x.dim(0), P = G.numel() / N;
  std::vector<double> g(P, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t q = 0; q < P; ++q) g[q] += G.item(n * P + q) / static_cast<double>(N);
  return g;
}

// Finite-difference Hessian of `grad` (P values) over the parameters of `sel`: column offset + i is the central
// difference (grad(θ + h e) - grad(θ - h e)) / 2h along element i of a block; (P, P) float64.
inline Tensor fd_hessian(Model& m, const influence::Selection& sel, int64_t P, double h,
                         const std::function<std::vector<double>()>& grad) {
  Tensor H({P, P}, DType::F64);
  for (const influence::ParamBlock& b : sel.blocks) {
    Tensor& t = m.find_param(b.name)->value;
    for (int64_t i = 0; i < b.numel; ++i) {
      const double v = t.item(i);
      t.set_item(i, v + h);
      const auto gp = grad();
      t.set_item(i, v - h);
      const auto gm = grad();
      t.set_item(i, v);
      for (int64_t r = 0; r < P; ++r) H.set_item(r * P + b.offset + i, (gp[r] - gm[r]) / (2 * h));
    }
  }
  return H;
}

inline double dot_rows(const Tensor& A, int64_t a, const Tensor& B, int64_t b) {
  double s = 0;
  for (int64_t i = 0; i < A.dim(1); ++i) s += A.item(a * A.dim(1) + i) * B.item(b * B.dim(1) + i);
  return s;
}

// Dense Gaussian elimination with partial pivoting: solves A x = b (A: (P, P)).
inline std::vector<double> solve_dense(std::vector<double> A, std::vector<double> b) {
  const size_t P = b.size();
  for (size_t c = 0; c < P; ++c) {
    size_t piv = c;
    for (size_t r = c + 1; r < P; ++r)
      if (std::abs(A[r * P + c]) > std::abs(A[piv * P + c])) piv = r;
    for (size_t j = 0; j < P; ++j) std::swap(A[c * P + j], A[piv * P + j]);
    std::swap(b[c], b[piv]);
    for (size_t r = c + 1; r < P; ++r) {
      const double f = A[r * P + c] / A[c * P + c];
      for (size_t j = c; j < P; ++j) A[r * P + j] -= f * A[c * P + j];
      b[r] -= f * b[c];
    }
  }
  std::vector<double> x(P);
  for (size_t c = P; c-- > 0;) {
    double s = b[c];
    for (size_t j = c + 1; j < P; ++j) s -= A[c * P + j] * x[j];
    x[c] = s / A[c * P + c];
  }
  return x;
}

struct Problem {
  std::vector<Model> models;
  std::vector<Model*> ptrs;
  influence::InfluenceData data;
};

inline Problem make_problem(int64_t n_train = 11, int64_t n_test = 4) {
  Problem p;
  for (uint64_t s = 1; s <= 3; ++s) p.models.push_back(make_mlp(s));
  for (auto& m : p.models) p.ptrs.push_back(&m);
  Rng rng(99);
  p.data.train_x = random_tensor({n_train, 6}, rng);
  p.data.train_y = random_labels(n_train, 3, rng);
  p.data.test_x = random_tensor({n_test, 6}, rng);
  p.data.test_y = random_labels(n_test, 3, rng);
  return p;
}

}  // namespace xdnn::testing
