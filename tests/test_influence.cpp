// Training-data influence (explain/influence): per-example gradients against batch-of-one backward
// passes, TracIn / Grad-Dot / Grad-Cos / self-influence against direct loops and their defining
// properties, the exact last-layer Hessian against finite differences, CG, influence functions on
// logistic regression against the closed form, projection determinism, and the input checks.
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

using namespace xdnn;
using namespace xdnn::influence;
using testing::max_rel_diff;

namespace {

// x (6) -> Linear(6,5) -> ReLU -> Linear(5,3) logits, float64.
Model make_mlp(uint64_t seed, int64_t hidden = 5) {
  Model m;
  m.add_input("input");
  Rng rng(seed);
  auto fc1 = std::make_shared<Linear>("fc1", 6, hidden, true, DType::F64);
  fc1->init(rng);
  auto fc2 = std::make_shared<Linear>("fc2", hidden, 3, true, DType::F64);
  fc2->init(rng);
  m.append("fc1", fc1);
  m.append("relu", std::make_shared<ReLU>());
  m.append("fc2", fc2);
  m.to(DType::F64);
  return m;
}

// Multinomial logistic regression: x (d) -> Linear(d, K).
Model make_logreg(uint64_t seed, int64_t d, int64_t K) {
  Model m;
  m.add_input("input");
  Rng rng(seed);
  auto fc = std::make_shared<Linear>("fc", d, K, true, DType::F64);
  fc->init(rng);
  m.append("fc", fc);
  m.to(DType::F64);
  return m;
}

Tensor random_labels(int64_t n, int64_t K, Rng& rng) {
  Tensor y({n}, DType::I64);
  for (int64_t i = 0; i < n; ++i) y.data<int64_t>()[i] = static_cast<int64_t>(rng.below(K));
  return y;
}

// softmax(z) − onehot(y) for one row, written independently of cross_entropy_seed.
Tensor seed_of(const Tensor& logits, int64_t y) {
  const int64_t K = logits.dim(1);
  Tensor d({1, K}, DType::F64);
  double s = 0;
  for (int64_t k = 0; k < K; ++k) s += std::exp(logits.item(k));
  for (int64_t k = 0; k < K; ++k) d.set_item(k, std::exp(logits.item(k)) / s - (k == y ? 1.0 : 0.0));
  return d;
}

// g(x_n, y_n) by one batch-of-one backward pass per example (ParamGrad::Accumulate), over the
// parameters of `names` (every parameter when empty). (N, P).
Tensor batch_of_one_gradients(Model& m, const Tensor& x, const Tensor& y, const std::vector<std::string>& names = {}) {
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

double dot_rows(const Tensor& A, int64_t a, const Tensor& B, int64_t b) {
  double s = 0;
  for (int64_t i = 0; i < A.dim(1); ++i) s += A.item(a * A.dim(1) + i) * B.item(b * B.dim(1) + i);
  return s;
}

// Dense Gaussian elimination with partial pivoting: solves A x = b (A: (P, P)).
std::vector<double> solve_dense(std::vector<double> A, std::vector<double> b) {
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
  InfluenceData data;
};

Problem make_problem(int64_t n_train = 11, int64_t n_test = 4) {
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

}  // namespace

TEST_CASE("influence: the seed softmax − onehot is the gradient of logsumexp − f_y") {
  Rng rng(3);
  Tensor z = random_tensor({4, 5}, rng, -3, 3);
  Tensor y = random_labels(4, 5, rng);
  std::vector<double> losses;
  Tensor d = cross_entropy_seed(z, y, &losses);
  for (int64_t n = 0; n < 4; ++n) {
    Tensor zn = z.slice_batch(n, n + 1).clone();
    auto f = [&] {
      std::vector<double> l;
      cross_entropy_seed(zn, y.slice_batch(n, n + 1), &l);
      return l[0];
    };
    CHECK(std::abs(f() - losses[n]) < 1e-12);
    CHECK(max_rel_diff(d.slice_batch(n, n + 1), testing::numeric_gradient(f, zn)) < 1e-8);
  }
}

TEST_CASE("influence: per-example gradients equal batch-of-one gradients (MLP, both routes, both sets)") {
  Model m = make_mlp(5);
  Rng rng(11);
  Tensor x = random_tensor({7, 6}, rng), y = random_labels(7, 3, rng);
  const Tensor ref_all = batch_of_one_gradients(m, x, y);
  const Tensor ref_last = batch_of_one_gradients(m, x, y, {"fc2.weight", "fc2.bias"});
  for (bool factor : {true, false}) {
    INFO("rank-one factoring ", factor);
    GradientComputer all(m, ParamSet::All), last(m, ParamSet::LastLayer);
    all.set_factoring(factor);
    last.set_factoring(factor);
    CHECK(all.selection().size == 6 * 5 + 5 + 5 * 3 + 3);
    CHECK(last.selection().size == 5 * 3 + 3);
    ChunkGrads ga = all.compute(x, y), gl = last.compute(x, y);
    // The factored route really factors the Linear nodes; the other one does not.
    CHECK(ga.blocks[0].rank_one() == factor);
    CHECK(max_rel_diff(dense_gradients(ga), ref_all) < 1e-12);
    CHECK(max_rel_diff(dense_gradients(gl), ref_last) < 1e-12);
  }
  CHECK(max_rel_diff(per_example_gradients(m, x, y, ParamSet::All, nullptr, 3), ref_all) < 1e-12);
}

TEST_CASE("influence: per-example gradients equal batch-of-one gradients (CNN: Conv2d, MaxPool2d, Flatten)") {
  Model m = build_zoo_model("fashion-cnn", 3);
  m.to(DType::F64);
  Rng rng(17);
  Tensor x = random_tensor({3, 1, 28, 28}, rng, 0, 1), y = random_labels(3, 10, rng);
  const Tensor ref = batch_of_one_gradients(m, x, y);
  GradientComputer all(m, ParamSet::All), last(m, ParamSet::LastLayer);
  const ChunkGrads g = all.compute(x, y);
  CHECK(all.selection().size == 8 * 9 + 8 + 16 * 8 * 9 + 16 + 10 * 784 + 10);
  CHECK(!g.blocks[0].rank_one());  // convolutions: per-example pass of the layer
  CHECK(g.blocks[4].rank_one());   // fc weight: factored
  CHECK(max_rel_diff(dense_gradients(g), ref) < 1e-12);
  const Tensor ref_last = batch_of_one_gradients(m, x, y, {"fc.weight", "fc.bias"});
  CHECK(max_rel_diff(dense_gradients(last.compute(x, y)), ref_last) < 1e-12);
}

TEST_CASE(
    "influence: per-example gradients of the golden LSTM equal batch-of-one gradients; the transformer is refused") {
  const std::string golden = XDNN_TESTS_DIR "/golden";  // the golden set copied into the repo
  Model lstm = load_model(golden + "/models/lstm.onnx");
  lstm.to(DType::F64);
  const Tensor tokens = load_npy(golden + "/explain-lstm-saliency/input.npy");  // int64 (3, 12)
  REQUIRE(tokens.dtype() == DType::I64);
  Tensor y = Tensor::from_vector({tokens.dim(0)}, std::vector<int64_t>{0, 3, 1});
  const Tensor ref = batch_of_one_gradients(lstm, tokens, y);
  GradientComputer gc(lstm, ParamSet::All);
  CHECK(gc.selection().size == ref.dim(1));
  CHECK(max_rel_diff(dense_gradients(gc.compute(tokens, y)), ref) < 1e-12);
  // The exported transformer runs attention sequence-first: its per-example pass is refused, not wrong.
  Model tr = load_model(golden + "/models/transformer.onnx");
  GradientComputer gt(tr, ParamSet::All);
  CHECK_THROWS_WITH_AS(gt.compute(tokens, y), doctest::Contains("no per-example gradients"), Error);
}

TEST_CASE("influence: TracIn, Grad-Dot and self-influence against direct loops") {
  Problem p = make_problem();
  const std::vector<double> lr = {0.3, 0.1, 0.05};
  for (ParamSet set : {ParamSet::All, ParamSet::LastLayer}) {
    INFO("params ", param_set_name(set));
    InfluenceOptions opt;
    opt.params = set;
    opt.chunk = 4;  // several train and test chunks
    const Tensor S = tracin(p.ptrs, lr, p.data, opt);
    const Tensor D = grad_dot(p.ptrs, p.data, opt);
    const Tensor self = self_influence(p.ptrs, lr, p.data, opt);
    REQUIRE(S.shape() == Shape{4, 11});
    Tensor S_ref({4, 11}, DType::F64), D_ref({4, 11}, DType::F64), self_ref({11}, DType::F64);
    for (size_t c = 0; c < 3; ++c) {
      std::vector<std::string> names;
      if (set == ParamSet::LastLayer) names = {"fc2.weight", "fc2.bias"};
      const Tensor Gtr = batch_of_one_gradients(p.models[c], p.data.train_x, p.data.train_y, names);
      const Tensor Gte = batch_of_one_gradients(p.models[c], p.data.test_x, p.data.test_y, names);
      for (int64_t j = 0; j < 4; ++j)
        for (int64_t i = 0; i < 11; ++i) {
          S_ref.set_item(j * 11 + i, S_ref.item(j * 11 + i) + lr[c] * dot_rows(Gte, j, Gtr, i));
          if (c == 2) D_ref.set_item(j * 11 + i, dot_rows(Gte, j, Gtr, i));
        }
      for (int64_t i = 0; i < 11; ++i) self_ref.set_item(i, self_ref.item(i) + lr[c] * dot_rows(Gtr, i, Gtr, i));
    }
    CHECK(max_rel_diff(S, S_ref) < 1e-12);
    CHECK(max_rel_diff(D, D_ref) < 1e-12);
    CHECK(max_rel_diff(self, self_ref) < 1e-12);
  }
}

TEST_CASE("influence: Grad-Cos lies in [-1, 1], self-cosine is 1, and it is Grad-Dot normalised") {
  Problem p = make_problem();
  InfluenceData self = p.data;
  self.test_x = p.data.train_x;
  self.test_y = p.data.train_y;
  InfluenceOptions opt;
  const Tensor C = grad_cos(p.ptrs, self, opt), D = grad_dot(p.ptrs, self, opt);
  for (int64_t j = 0; j < 11; ++j)
    for (int64_t i = 0; i < 11; ++i) {
      const double c = C.item(j * 11 + i);
      CHECK(c >= -1 - 1e-12);
      CHECK(c <= 1 + 1e-12);
      const double want = D.item(j * 11 + i) / std::sqrt(D.item(j * 11 + j) * D.item(i * 11 + i));
      CHECK(std::abs(c - want) < 1e-12);
    }
  for (int64_t i = 0; i < 11; ++i) CHECK(std::abs(C.item(i * 11 + i) - 1.0) < 1e-12);
}

TEST_CASE("influence: scores are bit-identical for any thread count and chunk size") {
  Problem p = make_problem(40, 6);
  for (auto& m : p.models) m.to(DType::F32);
  p.data.train_x = p.data.train_x.to(DType::F32);
  p.data.test_x = p.data.test_x.to(DType::F32);
  const std::vector<double> lr = {0.1, 0.1, 0.1};
  InfluenceOptions opt;
  const int saved = num_threads();
  set_num_threads(1);
  const Tensor a = tracin(p.ptrs, lr, p.data, opt);
  set_num_threads(2);
  opt.chunk = 7;
  const Tensor b = tracin(p.ptrs, lr, p.data, opt);
  set_num_threads(saved);
  CHECK(a.dtype() == DType::F32);
  CHECK(bitwise_equal(a, b));
}

TEST_CASE("influence: last-layer Hessian equals finite differences of the mean gradient (float64)") {
  Model m = make_mlp(8);
  Rng rng(21);
  Tensor x = random_tensor({9, 6}, rng), y = random_labels(9, 3, rng);
  const LastLayerCurvature c = last_layer_curvature(m, x, 4);
  const Tensor H = last_layer_hessian(c);
  const int64_t P = c.size();
  REQUIRE(P == 18);
  // Column q of H = d/dθ_q of the mean last-layer gradient; θ in the layout [W row-major, b].
  Param* W = m.find_param("fc2.weight");
  Param* b = m.find_param("fc2.bias");
  auto mean_grad = [&] {
    Tensor G = per_example_gradients(m, x, y, ParamSet::LastLayer);
    std::vector<double> g(P, 0.0);
    for (int64_t n = 0; n < 9; ++n)
      for (int64_t q = 0; q < P; ++q) g[q] += G.item(n * P + q) / 9;
    return g;
  };
  double worst = 0;
  const double h = 1e-5;
  for (int64_t q = 0; q < P; ++q) {
    Tensor& t = q < 15 ? W->value : b->value;
    const int64_t i = q < 15 ? q : q - 15;
    const double v = t.item(i);
    t.set_item(i, v + h);
    const auto gp = mean_grad();
    t.set_item(i, v - h);
    const auto gm = mean_grad();
    t.set_item(i, v);
    for (int64_t r = 0; r < P; ++r) worst = std::max(worst, std::abs((gp[r] - gm[r]) / (2 * h) - H.item(r * P + q)));
  }
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
  auto mean_grad = [&] {
    Tensor G = per_example_gradients(m, x, y, ParamSet::All);
    std::vector<double> g(P, 0.0);
    for (int64_t n = 0; n < 9; ++n)
      for (int64_t q = 0; q < P; ++q) g[q] += G.item(n * P + q) / 9;
    return g;
  };
  Tensor H({P, P}, DType::F64);
  const double h = 1e-5;
  for (const ParamBlock& b : sel.blocks) {
    Tensor& t = m.find_param(b.name)->value;
    for (int64_t i = 0; i < b.numel; ++i) {
      const double v = t.item(i);
      t.set_item(i, v + h);
      const auto gp = mean_grad();
      t.set_item(i, v - h);
      const auto gm = mean_grad();
      t.set_item(i, v);
      for (int64_t r = 0; r < P; ++r) H.set_item(r * P + b.offset + i, (gp[r] - gm[r]) / (2 * h));
    }
  }
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

TEST_CASE("influence: random projection is deterministic per seed and preserves inner products") {
  Model m = make_mlp(3, 40);
  Rng rng(8);
  Tensor x = random_tensor({10, 6}, rng), y = random_labels(10, 3, rng);
  GradientComputer gc(m, ParamSet::All);
  const int64_t P = gc.selection().size;
  Projection a(P, 64, 7, DType::F64), b(P, 64, 7, DType::F64), c(P, 64, 8, DType::F64);
  const Tensor Ga = per_example_gradients(m, x, y, ParamSet::All, &a, 10);
  const Tensor Gb = per_example_gradients(m, x, y, ParamSet::All, &b, 3);
  const Tensor Gc = per_example_gradients(m, x, y, ParamSet::All, &c, 10);
  CHECK(Ga.shape() == Shape{10, 64});
  CHECK(bitwise_equal(Ga, Gb));
  CHECK(!bitwise_equal(Ga, Gc));
  // Johnson–Lindenstrauss: with k = 4096 the Gram matrix is kept to a few percent.
  Projection big(P, 4096, 1, DType::F64);
  const Tensor G = per_example_gradients(m, x, y, ParamSet::All);
  const Tensor Gp = per_example_gradients(m, x, y, ParamSet::All, &big);
  const Tensor S = ops::matmul(G, G, false, true), Sp = ops::matmul(Gp, Gp, false, true);
  CHECK(testing::rel_l2(Sp, S) < 0.1);
}

TEST_CASE("influence: TracIn with a projection equals TracIn of the projected gradients") {
  Problem p = make_problem();
  const std::vector<double> lr = {0.3, 0.1, 0.05};
  InfluenceOptions opt;
  opt.projection = 16;
  opt.seed = 5;
  const Tensor S = tracin(p.ptrs, lr, p.data, opt);
  const int64_t P = select_params(p.models[0], ParamSet::All).size;
  Projection R(P, 16, 5, DType::F64);
  Tensor ref({4, 11}, DType::F64);
  for (size_t c = 0; c < 3; ++c) {
    const Tensor a = per_example_gradients(p.models[c], p.data.test_x, p.data.test_y, ParamSet::All, &R);
    const Tensor b = per_example_gradients(p.models[c], p.data.train_x, p.data.train_y, ParamSet::All, &R);
    for (int64_t j = 0; j < 4; ++j)
      for (int64_t i = 0; i < 11; ++i) ref.set_item(j * 11 + i, ref.item(j * 11 + i) + lr[c] * dot_rows(a, j, b, i));
  }
  CHECK(max_rel_diff(S, ref) < 1e-12);
}

TEST_CASE("influence: bad input is rejected before any long computation") {
  Problem p = make_problem();
  InfluenceOptions opt;
  const std::vector<double> lr = {0.1, 0.1, 0.1};
  CHECK_THROWS_AS(tracin(p.ptrs, {0.1, 0.1}, p.data, opt), Error);  // lr count
  Model other = make_mlp(1, 7);                                     // different hidden size
  std::vector<Model*> mixed = {p.ptrs[0], &other};
  CHECK_THROWS_WITH_AS(tracin(mixed, {0.1, 0.1}, p.data, opt),
                       doctest::Contains("differs from checkpoint 1 in architecture"), Error);
  {
    InfluenceData d = p.data;
    d.train_y = d.train_y.clone();
    d.train_y.data<int64_t>()[3] = 3;  // 3 classes
    CHECK_THROWS_WITH_AS(tracin(p.ptrs, lr, d, opt), doctest::Contains("outside [0, 3)"), Error);
    d.train_y = p.data.train_y.to(DType::F64);
    CHECK_THROWS_WITH_AS(tracin(p.ptrs, lr, d, opt), doctest::Contains("int64"), Error);
  }
  {
    InfluenceData d = p.data;
    Rng rng(1);
    d.test_x = random_tensor({4, 7}, rng);
    CHECK_THROWS_WITH_AS(grad_cos(p.ptrs, d, opt), doctest::Contains("train-x examples"), Error);
  }
  CHECK_THROWS_AS(parse_param_set("everything"), Error);
}
