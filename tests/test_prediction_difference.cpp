// Prediction difference analysis (explain/prediction_difference.cpp) by its defining properties: the
// conditional Gaussian against the precision-matrix form of the same conditional, the weight of evidence
// with its Laplace correction and window averaging by hand, zero evidence outside the one region a model
// reads, bits vs nats, a hidden layer by hand, reproducible draws, and one-line errors before any work.
// No golden case exists for this method (the peers do not implement it).
#include <doctest/doctest.h>
#include <cstring>

#include <cmath>
#include <memory>

#include "engine/parallel.h"
#include "engine/random.h"
#include "explain/conditional_gaussian.h"
#include "explain/registry.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/relu.h"
#include "models/io/npy.h"
#include "models/model.h"
#include "tests/explain_run.h"
#include "tests/file_fixtures.h"

using namespace xdnn;
using namespace xdnn::explain;
using testing::error_of;

namespace {

std::string temp_path(const std::string& name) { return testing::scratch().path("pd_" + name); }

// Inverse of a small dense matrix by Gauss–Jordan elimination with partial pivoting (the test's own oracle).
std::vector<double> inverse(std::vector<double> a, int64_t n) {
  std::vector<double> inv(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) inv[i * n + i] = 1;
  for (int64_t c = 0; c < n; ++c) {
    int64_t p = c;
    for (int64_t r = c + 1; r < n; ++r)
      if (std::abs(a[r * n + c]) > std::abs(a[p * n + c])) p = r;
    for (int64_t k = 0; k < n; ++k) std::swap(a[c * n + k], a[p * n + k]), std::swap(inv[c * n + k], inv[p * n + k]);
    const double d = a[c * n + c];
    for (int64_t k = 0; k < n; ++k) a[c * n + k] /= d, inv[c * n + k] /= d;
    for (int64_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = a[r * n + c];
      for (int64_t k = 0; k < n; ++k) a[r * n + k] -= f * a[c * n + k], inv[r * n + k] -= f * inv[c * n + k];
    }
  }
  return inv;
}

// (N, 1, 6, 6) -> logit 0 = Σ of pixels (2..3, 2..3) − 1, logit 1 = 0: a model that reads one 2x2 region.
Model region_model() {
  Model m;
  m.add_input("x");
  auto fc = std::make_shared<Linear>("fc", 36, 2, true, DType::F64);
  for (int r = 2; r <= 3; ++r)
    for (int c = 2; c <= 3; ++c) fc->params()[0]->value.set_item(r * 6 + c, 1.0);
  fc->params()[1]->value.set_item(0, -1.0);
  m.append("flat", std::make_shared<Flatten>());
  m.append("fc", fc);
  m.to(DType::F64);
  return m;
}

// (N, 4) -> h = ReLU(2x) -> logit 0 = w·h, logit 1 = 0.
Model two_layer_model(const std::vector<double>& w) {
  Model m;
  m.add_input("x");
  auto fc1 = std::make_shared<Linear>("fc1", 4, 4, false, DType::F64);
  for (int i = 0; i < 4; ++i) fc1->params()[0]->value.set_item(i * 4 + i, 2.0);
  auto fc2 = std::make_shared<Linear>("fc2", 4, 2, false, DType::F64);
  for (int i = 0; i < 4; ++i) fc2->params()[0]->value.set_item(i, w[i]);
  m.append("fc1", fc1);
  m.append("h", std::make_shared<ReLU>());
  m.append("fc2", fc2);
  m.to(DType::F64);
  return m;
}

Attribution run(const Model& m, const Tensor& x, std::map<std::string, std::string> opts) {
  return testing::run("prediction-difference", m, x, std::vector<int64_t>(x.dim(0), 0), std::move(opts));
}

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }
// log2 odds of the Laplace-corrected probability, N_train = 100, K = 2 classes.
double log2_odds(double p) {
  const double q = (p * 100 + 1) / 102;
  return std::log2(q / (1 - q));
}

}  // namespace

TEST_CASE("conditional Gaussian: Schur complement = precision-matrix form; draws have its moments") {
  Rng rng(4);
  const int64_t n = 5;
  std::vector<double> A(n * n), cov(n * n, 0.0);
  for (double& a : A) a = rng.uniform(-1, 1);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t k = 0; k < n; ++k) cov[i * n + j] += A[i * n + k] * A[j * n + k];
      if (i == j) cov[i * n + j] += 0.5;
    }
  const Gaussian g{n, {0.3, -1.0, 2.0, 0.5, 0.0}, cov};
  const std::vector<int64_t> a{0, 3}, b{1, 2, 4};
  const ConditionalGaussian c = condition(g, a, b);
  // Oracle (Bishop, PRML eqs. 2.73, 2.75): with Λ = Σ⁻¹, cov = Λ_aa⁻¹, mean = μ_a − Λ_aa⁻¹ Λ_ab (x_b − μ_b).
  const std::vector<double> L = inverse(cov, n);
  const std::vector<double> Laa{L[0 * n + 0], L[0 * n + 3], L[3 * n + 0], L[3 * n + 3]};
  const std::vector<double> Laa_inv = inverse(Laa, 2);
  const double xb[3] = {0.7, -0.2, 1.5};
  double mean[2];
  c.mean(xb, mean);
  for (int i = 0; i < 2; ++i) {
    double t = 0;
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 3; ++k) t += Laa_inv[i * 2 + j] * L[a[j] * n + b[k]] * (xb[k] - g.mean[b[k]]);
    CHECK(mean[i] == doctest::Approx(g.mean[a[i]] - t).epsilon(1e-12));
    for (int j = 0; j < 2; ++j) CHECK(c.cov[i * 2 + j] == doctest::Approx(Laa_inv[i * 2 + j]).epsilon(1e-12));
  }
  // 40,000 seeded draws: mean within 4 standard errors, covariance within 5 %.
  Rng draws(9);
  const int64_t S = 40000;
  std::vector<double> rows(S * 2);
  for (int64_t s = 0; s < S; ++s) c.sample(xb, draws, rows.data() + s * 2);
  const Gaussian fit = fit_gaussian(rows, S, 2, 0.0);
  for (int i = 0; i < 2; ++i) {
    CHECK(std::abs(fit.mean[i] - mean[i]) < 4 * std::sqrt(c.cov[i * 3] / S));
    for (int j = 0; j < 2; ++j) CHECK(fit.cov[i * 2 + j] == doctest::Approx(c.cov[i * 2 + j]).epsilon(0.05));
  }
  // Given nothing, the conditional is the marginal.
  const ConditionalGaussian m = condition(g, {2}, {});
  CHECK(m.cov[0] == doctest::Approx(cov[2 * n + 2]).epsilon(1e-12));
}

TEST_CASE("prediction difference: weight of evidence, Laplace correction and window means by hand") {
  const std::vector<double> w{1.0, -2.0, 0.5, 3.0};
  const Model m = two_layer_model(w);
  const Tensor x = Tensor::from_vector({1, 4}, std::vector<double>{0.5, 0.25, 1.0, 0.2});
  const std::vector<double> bg{0.125, 0.875, 0.0, 0.375};  // exact in float32
  const std::string path = temp_path("pd_background.npy");
  save_npy(path, Tensor::from_vector({1, 4}, std::vector<float>(bg.begin(), bg.end())));
  const auto logit = [&](const std::vector<double>& v) {
    double z = 0;
    for (int i = 0; i < 4; ++i) z += w[i] * 2 * std::max(v[i], 0.0);
    return z;
  };
  const std::vector<double> xv{0.5, 0.25, 1.0, 0.2};
  const double full = log2_odds(sigmoid(logit(xv)));
  std::vector<double> we(3);  // windows [0,1], [1,2], [2,3] (window 2, stride 1)
  for (int k = 0; k < 3; ++k) {
    std::vector<double> v = xv;
    v[k] = bg[k], v[k + 1] = bg[k + 1];  // one background row: every draw is that row
    we[k] = full - log2_odds(sigmoid(logit(v)));
  }
  const std::map<std::string, std::string> opts{
      {"sampling", "marginal"}, {"background", path}, {"window", "2"}, {"train-size", "100"}, {"samples", "3"}};
  const Tensor a = run(m, x, opts).values;
  CHECK(a.item(0) == doctest::Approx(we[0]).epsilon(1e-12));
  CHECK(a.item(1) == doctest::Approx((we[0] + we[1]) / 2).epsilon(1e-12));
  CHECK(a.item(2) == doctest::Approx((we[1] + we[2]) / 2).epsilon(1e-12));
  CHECK(a.item(3) == doctest::Approx(we[2]).epsilon(1e-12));
  // Nats: the same evidence times ln 2.
  auto nats_opts = opts;
  nats_opts["log-base"] = "e";
  const Tensor n = run(m, x, nats_opts).values;
  for (int i = 0; i < 4; ++i) CHECK(n.item(i) == doctest::Approx(a.item(i) * std::log(2.0)).epsilon(1e-12));

  SUBCASE("at a hidden layer the activation is replaced, the layers below are not rerun on it") {
    // h = ReLU(2x); the background's activation is ReLU(2 bg); window 1: WE_i by hand.
    auto hopts = opts;
    hopts["layer"] = "h";
    hopts["window"] = "1";
    const Attribution h = run(m, x, hopts);
    REQUIRE(h.values.shape() == Shape{1, 4});
    for (int i = 0; i < 4; ++i) {
      double z = logit(xv) - w[i] * 2 * xv[i] + w[i] * 2 * bg[i];
      CHECK(h.values.item(i) == doctest::Approx(full - log2_odds(sigmoid(z))).epsilon(1e-12));
    }
  }
}

TEST_CASE("prediction difference: zero evidence outside the region a model reads, non-zero inside") {
  const Model m = region_model();
  Rng rng(3);
  Tensor x({2, 1, 6, 6}, DType::F64), bg({8, 1, 6, 6}, DType::F32);
  for (int64_t i = 0; i < x.numel(); ++i) x.set_item(i, rng.uniform());
  for (int64_t i = 0; i < bg.numel(); ++i) bg.set_item(i, rng.uniform());
  const std::string path = temp_path("pd_region_background.npy");
  save_npy(path, bg);
  for (const std::string sampling : {"marginal", "conditional"}) {
    CAPTURE(sampling);
    const Tensor a = run(m, x, {{"sampling", sampling}, {"background", path}, {"window", "2"}, {"frame", "1"}}).values;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t r = 0; r < 6; ++r)
        for (int64_t c = 0; c < 6; ++c) {
          const double v = a.item(n * 36 + r * 6 + c);
          // Windows of size 2 that cover (r, c) reach rows r−1..r+1: they miss rows/cols 2..3 when |r − 2.5| > 1.5.
          const bool far = r < 1 || r > 4 || c < 1 || c > 4;
          if (far) CHECK(std::abs(v) < 1e-12);
          if (r >= 2 && r <= 3 && c >= 2 && c <= 3) CHECK(std::abs(v) > 1e-3);
        }
  }
  // Without --background, conditional sampling fits on the batch and marginal draws from the other sample.
  const Tensor self = run(m, x, {{"sampling", "marginal"}, {"window", "2"}, {"stride", "2"}}).values;
  CHECK(std::abs(self.item(0)) < 1e-12);  // (0, 0): only the window at (0, 0) covers it, and it misses the region
  CHECK(std::abs(self.item(2 * 6 + 2)) > 1e-3);
}

TEST_CASE("prediction difference: seeded draws are reproducible, independent of the batch split and thread count") {
  Rng rng(6);
  const Model m = region_model();
  Tensor x({3, 1, 6, 6}, DType::F64);
  for (int64_t i = 0; i < x.numel(); ++i) x.set_item(i, rng.uniform());
  const std::string path = temp_path("pd_split_background.npy");
  Tensor bg({5, 1, 6, 6}, DType::F32);
  for (int64_t i = 0; i < bg.numel(); ++i) bg.set_item(i, rng.uniform());
  save_npy(path, bg);
  for (const std::string sampling : {"marginal", "conditional"}) {
    const std::map<std::string, std::string> opts{
        {"sampling", sampling}, {"background", path}, {"seed", "11"}, {"window", "2"}, {"frame", "1"}};
    const Tensor a = run(m, x, opts).values, b = run(m, x, opts).values;
    ExplainRequest req;
    req.model = &m;
    req.input = x;
    req.targets = {0, 0, 0};
    req.options = resolve_options(find_method("prediction-difference"), opts);
    load_option_files(find_method("prediction-difference"), req.options);
    const Tensor c = run_in_chunks(find_method("prediction-difference"), req, 1).values;
    const int saved_threads = num_threads();
    set_num_threads(saved_threads == 1 ? 2 : 1);  // the other thread count
    const Tensor d = run(m, x, opts).values;
    set_num_threads(saved_threads);
    for (int64_t i = 0; i < a.numel(); ++i) {
      CHECK(a.item(i) == b.item(i));
      CHECK(a.item(i) == c.item(i));
      CHECK(a.item(i) == d.item(i));
    }
  }
}

TEST_CASE("prediction difference: bad options fail with one line before any work") {
  const Model m = region_model();
  const Tensor x = Tensor::full({1, 1, 6, 6}, 0.5, DType::F64);
  const std::string wrong = temp_path("pd_wrong_background.npy");
  save_npy(wrong, Tensor::full({3, 1, 5, 6}, 0.5, DType::F32));
  const auto fails = [&](std::map<std::string, std::string> opts, const std::string& what) {
    const std::string msg = error_of([&] { run(m, x, opts); });
    CAPTURE(msg);
    CHECK(msg.find(what) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  };
  fails({{"window", "7"}}, "--window 7: larger than the input");
  fails({{"samples", "0"}}, "--samples 0");
  fails({{"window", "2"}, {"stride", "3"}}, "--stride 3: expected at most --window 2");
  fails({{"background", wrong}}, "--background");
  fails({{"layer", "nowhere"}}, "--layer nowhere");
  fails({{"sampling", "marginal"}}, "marginal sampling without --background");
  fails({{"sampling", "joint"}}, "--sampling");
  fails({{"frame", "3"}}, "--frame 3");
  fails({{"log-base", "10"}}, "--log-base");
  fails({{"train-size", "0"}}, "--train-size");
}

// Regression: Eigen peels unaligned leading elements off its vectorised loops, so the Gaussian fit's sums
// depended on where the allocator put its buffers, and two identical calls in one process differed in their
// last bits (3645 of 6272 values here before the fix).
TEST_CASE("prediction difference: two identical calls in one process give the same bits (conditional, no background)") {
  Rng rng(3);
  Model m;
  m.add_input("x");
  auto fc = std::make_shared<Linear>("fc", 784, 2, true, DType::F64);
  fc->init(rng);
  m.append("flat", std::make_shared<Flatten>());
  m.append("fc", fc);
  m.to(DType::F64);
  Tensor x({8, 1, 28, 28}, DType::F64);
  for (int64_t i = 0; i < x.numel(); ++i) x.set_item(i, rng.uniform());
  const Tensor a = run(m, x, {{"seed", "1"}}).values;
  std::vector<std::vector<double>> other_allocations;  // moves the allocator's next addresses
  for (int k = 1; k < 40; ++k) other_allocations.emplace_back(k * 3 + 1, 1.0);
  const Tensor b = run(m, x, {{"seed", "1"}}).values;
  REQUIRE(a.numel() == b.numel());
  for (int64_t i = 0; i < a.numel(); ++i) CHECK(std::memcmp(&a.data<double>()[i], &b.data<double>()[i], 8) == 0);
}

TEST_CASE("GaussianFit: the same bits wherever its rows and its own buffers lie in memory") {
  Rng rng(5);
  const int64_t dim = 64, count = 500;
  std::vector<double> values(count * dim + 8);
  for (double& v : values) v = rng.uniform();
  for (int offset = 0; offset < 8; ++offset) {  // rows at every 8-byte offset within a 64-byte line
    CAPTURE(offset);
    const std::vector<double> rows(values.begin() + offset, values.begin() + offset + count * dim);
    std::vector<double> shifted(count * dim + 8);
    std::copy(rows.begin(), rows.end(), shifted.begin() + offset);
    explain::GaussianFit fit_a(dim), fit_b(dim);
    fit_a.add(rows.data(), count);
    fit_b.add(shifted.data() + offset, count);
    const explain::Gaussian a = fit_a.finish(1e-6), b = fit_b.finish(1e-6);
    CHECK(std::memcmp(a.cov.data(), b.cov.data(), a.cov.size() * sizeof(double)) == 0);
    CHECK(std::memcmp(a.mean.data(), b.mean.data(), a.mean.size() * sizeof(double)) == 0);
  }
}
