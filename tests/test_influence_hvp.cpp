// Exact Hessian-vector products beyond MLP chains (explain/influence/hvp.h; the layers' R-operators in
// layers/layer.h) and the LiSSA inverse-HVP estimator (explain/influence/lissa.h):
//   - H v on small float64 CNNs with Conv2d, BatchNorm2d (eval), ReLU, MaxPool2d, a residual Add,
//     AvgPool2d / GlobalAvgPool, Flatten and Linear against central differences of the mean gradient,
//     and the symmetry uᵀHv = vᵀHu;
//   - the zoo CNN and ResNet are accepted; a node without an R-operator is named in the error;
//   - LiSSA against the exact solve on logistic regression (full-batch: to 1e-8; mini-batch: stated
//     tolerance), influence functions with --solver lissa against --solver cg, divergence reported.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "engine/ops.h"
#include "explain/influence/hessian.h"
#include "explain/influence/hvp.h"
#include "explain/influence/influence.h"
#include "explain/influence/lissa.h"
#include "layers/add.h"
#include "layers/avgpool2d.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/global_avg_pool.h"
#include "layers/linear.h"
#include "layers/maxpool2d.h"
#include "layers/registry.h"
#include "layers/relu.h"
#include "layers/tanh.h"
#include "models/zoo.h"
#include "tests/gradcheck.h"
#include "tests/influence_fixtures.h"

using namespace xdnn;
using namespace xdnn::influence;
using testing::fd_hessian;
using testing::max_rel_diff;
using testing::random_labels;

namespace {

std::shared_ptr<BatchNorm2d> random_bn(const std::string& name, int64_t C, Rng& rng) {
  auto bn = std::make_shared<BatchNorm2d>(name, C, 1e-5, 0.1, DType::F64);
  bn->weight_param().value = random_tensor({C}, rng, 0.5, 1.5);
  bn->bias_param().value = random_tensor({C}, rng, -0.3, 0.3);
  bn->running_mean_param().value = random_tensor({C}, rng, -0.2, 0.2);
  bn->running_var_param().value = random_tensor({C}, rng, 0.5, 2.0);
  return bn;
}

// x (2, 6, 6) -> conv1 (3, 3x3, pad 1) -> bn1 -> relu -> maxpool 2 -> [block: conv2 (no bias) -> bn2]
// + identity -> relu -> AvgPool2d(2, stride 1) or GlobalAvgPool -> flatten -> fc (3 classes). float64.
Model make_small_resnet(uint64_t seed, bool global_pool) {
  Model m;
  m.add_input("input");
  Rng rng(seed);
  auto conv1 = std::make_shared<Conv2d>("conv1", 2, 3, 3, 3, Conv2dOptions::same(1, 1), DType::F64);
  conv1->init(rng);
  auto conv2 = std::make_shared<Conv2d>("conv2", 3, 3, 3, 3, Conv2dOptions::same(1, 1, 1, 1, false), DType::F64);
  conv2->init(rng);
  m.append("conv1", conv1);
  m.append("bn1", random_bn("bn1", 3, rng));
  m.append("relu1", std::make_shared<ReLU>());
  m.append("pool1", std::make_shared<MaxPool2d>(2));  // (N, 3, 3, 3)
  m.append("conv2", conv2);
  m.append("bn2", random_bn("bn2", 3, rng));
  m.add_node("add", std::make_shared<Add>(), {"pool1", "bn2"}, {"add"});
  m.append("relu2", std::make_shared<ReLU>());
  int64_t features = 3;
  if (global_pool) {
    m.append("pool2", std::make_shared<GlobalAvgPool>());
  } else {
    m.append("pool2", std::make_shared<AvgPool2d>(2, 1));  // (N, 3, 2, 2)
    features = 12;
  }
  m.append("flatten", std::make_shared<Flatten>());
  auto fc = std::make_shared<Linear>("fc", features, 3, true, DType::F64);
  fc->init(rng);
  m.append("fc", fc);
  m.to(DType::F64);
  return m;
}

// Mean over the examples of ∂L/∂θ by the model's ordinary backward pass (independent of hvp.cpp).
std::vector<double> mean_gradient(Model& m, const Tensor& x, const Tensor& y) {
  for (Param* p : m.params()) p->grad = Tensor();
  const Tape t = m.forward({x});
  const int out = m.outputs()[0];
  const Tensor seed = ops::scale(cross_entropy_seed(t.values[out], y), 1.0 / static_cast<double>(x.dim(0)));
  BackwardOptions bo;
  bo.param_grad = ParamGrad::Accumulate;
  m.backward(t, {{out, seed}}, bo);
  std::vector<double> g;
  for (const ParamBlock& b : select_params(m, ParamSet::All).blocks)
    for (int64_t i = 0; i < b.numel; ++i) g.push_back(b.param->grad.item(i));
  for (Param* p : m.params()) p->grad = Tensor();
  return g;
}

void check_hvp_against_finite_differences(Model& m, const Tensor& x, const Tensor& y) {
  FullHvp hvp(m, x, y, 3);  // chunk 3 of 5 examples: the chunked sum is exercised
  const Selection sel = select_params(m, ParamSet::All);
  const int64_t P = hvp.size();
  const Tensor H = fd_hessian(m, sel, P, 1e-5, [&] { return mean_gradient(m, x, y); });
  Rng rng(31);
  const Tensor V = random_tensor({3, P}, rng);
  const Tensor HV = hvp.apply(V);
  const Tensor ref = ops::matmul(V, H, false, true);
  CHECK(max_rel_diff(HV, ref) < 1e-6);
  double uhv = 0, vhu = 0, scale = 0;
  for (int64_t q = 0; q < P; ++q) {
    uhv += V.item(q) * HV.item(P + q);
    vhu += V.item(P + q) * HV.item(q);
    scale += std::abs(V.item(q) * HV.item(P + q));
  }
  CHECK(scale > 1e-6);
  CHECK(std::abs(uhv - vhu) < 1e-12 * scale);
}

}  // namespace

TEST_CASE("influence hvp: R-operator HVP equals finite differences on a CNN with BN, max-pool, residual Add") {
  for (bool global_pool : {false, true}) {
    CAPTURE(global_pool);
    Model m = make_small_resnet(global_pool ? 7 : 3, global_pool);
    Rng rng(11);
    const Tensor x = random_tensor({5, 2, 6, 6}, rng);
    const Tensor y = random_labels(5, 3, rng);
    check_hvp_against_finite_differences(m, x, y);
  }
}

TEST_CASE("influence hvp: the zoo CNN and ResNet are supported; a node without an R-operator is named") {
  Rng rng(2);
  const Tensor x = random_tensor({2, 1, 28, 28}, rng, 0, 1);
  const Tensor y = random_labels(2, 10, rng);
  for (const char* name : {"fashion-cnn", "fashion-resnet"}) {
    CAPTURE(name);
    Model m = build_zoo_model(name, 1);
    FullHvp hvp(m, x, y);
    Tensor V = random_tensor({2, hvp.size()}, rng);
    const Tensor HV = hvp.apply(V);
    // Symmetry in float32 arithmetic: uᵀHv = vᵀHu to float32 rounding.
    double a = 0, b = 0, s = 0;
    for (int64_t q = 0; q < hvp.size(); ++q) {
      a += V.item(q) * HV.item(hvp.size() + q);
      b += V.item(hvp.size() + q) * HV.item(q);
      s += std::abs(V.item(q) * HV.item(hvp.size() + q));
    }
    CHECK(std::abs(a - b) < 1e-4 * s);
  }
  Model m;
  m.add_input("input");
  Rng r(3);
  auto fc1 = std::make_shared<Linear>("fc1", 4, 3, true, DType::F64);
  fc1->init(r);
  m.append("fc1", fc1);
  m.append("squash", std::make_shared<Tanh>());
  m.to(DType::F64);
  CHECK_THROWS_WITH_AS(FullHvp(m, random_tensor({2, 4}, r), random_labels(2, 3, r)),
                       doctest::Contains("node 'squash' (Tanh)"), Error);
}

TEST_CASE("influence hvp: LiSSA agrees with the exact solve on logistic regression") {
  const int64_t d = 3, K = 3, N = 30;
  Model m;
  m.add_input("input");
  Rng rng(5);
  auto fc = std::make_shared<Linear>("fc", d, K, true, DType::F64);
  fc->init(rng);
  m.append("fc", fc);
  m.to(DType::F64);
  const Tensor x = random_tensor({N, d}, rng, -2, 2);
  const Tensor y = random_labels(N, K, rng);
  const LastLayerCurvature curv = last_layer_curvature(m, x, 8);
  const Tensor H = last_layer_hessian(curv);
  const int64_t P = curv.size();
  const double damping = 0.1;
  const Tensor B = random_tensor({2, P}, rng);
  double gersh = 0;
  for (int64_t r = 0; r < P; ++r) {
    double row = 0;
    for (int64_t q = 0; q < P; ++q) row += std::abs(H.item(r * P + q));
    gersh = std::max(gersh, row);
  }
  auto A_times = [&](const Tensor& V) {
    Tensor AV = ops::matmul(V, H, false, true);
    ops::axpy_inplace(AV, damping, V);
    return AV;
  };
  // Reference: Gauss–Jordan elimination on the explicit (H + λI), one right-hand side at a time.
  Tensor exact = B.clone();
  {
    std::vector<double> A(P * P);
    for (int64_t q = 0; q < P * P; ++q) A[q] = H.item(q) + (q / P == q % P ? damping : 0.0);
    for (int64_t j = 0; j < 2; ++j) {
      std::vector<double> M = A, b(P);
      for (int64_t q = 0; q < P; ++q) b[q] = B.item(j * P + q);
      for (int64_t c = 0; c < P; ++c) {
        int64_t piv = c;
        for (int64_t r = c + 1; r < P; ++r)
          if (std::abs(M[r * P + c]) > std::abs(M[piv * P + c])) piv = r;
        for (int64_t q = 0; q < P; ++q) std::swap(M[c * P + q], M[piv * P + q]);
        std::swap(b[c], b[piv]);
        for (int64_t r = 0; r < P; ++r) {
          if (r == c) continue;
          const double f = M[r * P + c] / M[c * P + c];
          for (int64_t q = c; q < P; ++q) M[r * P + q] -= f * M[c * P + q];
          b[r] -= f * b[c];
        }
      }
      for (int64_t q = 0; q < P; ++q) exact.set_item(j * P + q, b[q] / M[q * P + q]);
    }
  }
  CHECK(max_rel_diff(A_times(exact), B) < 1e-10);
  auto batch_hvp = [&](const Tensor& V, const std::vector<int64_t>& rows) {
    LastLayerCurvature s = curv;
    const int64_t n = static_cast<int64_t>(rows.size()), f = curv.features.dim(1);
    s.features = Tensor({n, f}, DType::F64);
    s.probs = Tensor({n, K}, DType::F64);
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t q = 0; q < f; ++q) s.features.set_item(r * f + q, curv.features.item(rows[r] * f + q));
      for (int64_t q = 0; q < K; ++q) s.probs.set_item(r * K + q, curv.probs.item(rows[r] * K + q));
    }
    return last_layer_hvp(s, V);
  };
  LissaOptions lo;
  lo.scale = 1.2 * (gersh + damping);  // above the largest eigenvalue of H + λI
  lo.depth = 2000;

  SUBCASE("full batch: the Neumann series to convergence, 1e-8") {
    lo.batch = N;
    CHECK(max_rel_diff(lissa(batch_hvp, N, B, damping, lo), exact) < 1e-8);
  }
  SUBCASE("mini-batches of 10, 8 repeats: within 10 % (relative L2); deterministic per seed") {
    lo.batch = 10;
    lo.repeats = 8;
    lo.seed = 4;
    const Tensor est = lissa(batch_hvp, N, B, damping, lo);
    CHECK(testing::rel_l2(est, exact) < 0.1);
    CHECK(max_rel_diff(lissa(batch_hvp, N, B, damping, lo), est) == 0.0);
  }
  SUBCASE("a scale below the largest eigenvalue diverges and says so") {
    lo.batch = N;
    lo.scale = 0.02 * gersh;
    CHECK_THROWS_WITH_AS(lissa(batch_hvp, N, B, damping, lo), doctest::Contains("LiSSA diverged"), Error);
  }
  SUBCASE("influence functions: --solver lissa equals --solver cg") {
    InfluenceData data;
    data.train_x = x;
    data.train_y = y;
    data.test_x = random_tensor({3, d}, rng, -2, 2);
    data.test_y = random_labels(3, K, rng);
    std::vector<Model*> ck = {&m};
    for (ParamSet set : {ParamSet::LastLayer, ParamSet::All}) {
      InfluenceOptions opt;
      opt.params = set;
      opt.damping = damping;
      opt.cg_tolerance = 1e-12;
      const Tensor cg = influence_function(ck, data, opt);
      opt.solver = "lissa";
      opt.lissa = lo;
      opt.lissa.batch = N;
      CHECK(max_rel_diff(influence_function(ck, data, opt), cg) < 1e-8);
    }
  }
}
