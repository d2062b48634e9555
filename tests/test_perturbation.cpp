// Property tests of the perturbation explainers (explain/perturbation.h and the methods on it), each by
// its defining property on small hand-built models: Shapley efficiency, symmetry and dummy; KernelSHAP's
// exact regime equal to the Shapley values and its sampled estimates converging; LIME recovering a linear
// model's coefficients; RISE finding the one region a model looks at (SLIC superpixels: test_superpixels.cpp);
// DeepLIFT-SHAP's summation to delta; expected gradients' completeness; the golden README's SplitMix64 / KernelSHAP
// test vectors; the bad inputs of issue 19. The golden cases (golden-perturbation) check agreement with the references.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <tuple>

#include <unistd.h>

#include "explain/perturbation.h"
#include "explain/registry.h"
#include "explain/slic.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/maxpool2d.h"
#include "layers/registry.h"
#include "layers/relu.h"
#include "models/io/npy.h"
#include "models/model.h"
#include "tests/file_fixtures.h"
#include "tests/perturbation_fixtures.h"

using namespace xdnn;
using namespace xdnn::explain;
using namespace xdnn::testing;

namespace {

// x (N, 1, 8, 8) -> Conv(1->3, 3x3, pad 1) -> ReLU -> MaxPool 2 -> Flatten -> Linear(48, 4), float64, weights
// from rng (conv1 first, then fc).
Model conv_pool_cnn(Rng& rng) {
  Model m;
  m.add_input("x");
  auto c1 = std::make_shared<Conv2d>("conv1", 1, 3, 3, 3, Conv2dOptions::same(1, 1), DType::F64);
  c1->init(rng);
  auto fc = std::make_shared<Linear>("fc", 48, 4, true, DType::F64);
  fc->init(rng);
  m.append("conv1", c1);
  m.append("relu1", std::make_shared<ReLU>());
  m.append("pool1", std::make_shared<MaxPool2d>(2));
  m.append("flat", std::make_shared<Flatten>());
  m.append("fc", fc);
  m.to(DType::F64);
  return m;
}

std::string temp_path(const std::string& name) {
  // The process id keeps concurrent test runs (several build folders) apart.
  return (std::filesystem::temp_directory_path() / ("xdnn-perturbation-" + std::to_string(getpid()) + "-" + name))
      .string();
}

double score(const Model& m, const Tensor& x, int64_t n, int64_t k, ScoreKind s) {
  const Tensor y = m.predict(x).slice_batch(n, n + 1);
  return target_scores(y, {k}, s)[0];
}

double rel_diff(const Tensor& a, const Tensor& b) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    num += (a.item(i) - b.item(i)) * (a.item(i) - b.item(i));
    den += b.item(i) * b.item(i);
  }
  return std::sqrt(num / den);
}

}  // namespace

TEST_CASE("SplitMix64 and the KernelSHAP sampler match the golden README's test vectors") {
  SplitMix64 r(0);
  CHECK(r.next() == 0xE220A8397B1DCDAFULL);
  CHECK(r.next() == 0x6E789E6AA1B965F4ULL);
  CHECK(r.next() == 0x06C45D188009454FULL);
  const std::vector<uint8_t> Z = kernel_shap_sample(5, 6, 42);
  const char* want[] = {"11110", "11011", "00100", "10110", "00100", "00010"};
  for (int r = 0; r < 6; ++r) {
    std::string row;
    for (int g = 0; g < 5; ++g) row += static_cast<char>('0' + Z[r * 5 + g]);
    CHECK(row == want[r]);
  }
}

TEST_CASE("Shapley values: efficiency, symmetry, dummy, and the linear-model closed form") {
  // f = relu(x0 + x1 + 2·x2) − x2 + 0·x3 on (N, 4): features 0 and 1 are symmetric, 3 is a dummy.
  Model m;
  m.add_input("x");
  auto fc1 = std::make_shared<Linear>("fc1", 4, 2, true, DType::F64);
  const double w1[] = {1, 1, 2, 0, 0, 0, 1, 0};
  for (int i = 0; i < 8; ++i) fc1->params()[0]->value.set_item(i, w1[i]);
  auto fc2 = std::make_shared<Linear>("fc2", 2, 1, true, DType::F64);
  fc2->params()[0]->value.set_item(0, 1.0);
  fc2->params()[0]->value.set_item(1, -1.0);
  m.append("fc1", fc1);
  m.append("relu", std::make_shared<ReLU>());
  m.append("fc2", fc2);
  m.to(DType::F64);
  // Sample 1 has a negative x2, so the ReLU bends inside the coalition lattice.
  const Tensor x = Tensor::from_vector({2, 4}, std::vector<double>{0.7, 0.7, 0.4, 3.0, 0.5, 0.5, -0.9, -1.0});
  for (const char* s : {"logit", "prob", "log-prob"}) {
    CAPTURE(s);
    const Attribution a = run("shapley-values", m, x, {0, 0}, {{"score", s}, {"baseline", "0.1"}});
    for (int64_t n = 0; n < 2; ++n) {
      const Tensor base = Tensor::full({1, 4}, 0.1, DType::F64);
      const double full = score(m, x.slice_batch(n, n + 1), 0, 0, parse_score(s));
      const double empty = score(m, base, 0, 0, parse_score(s));
      double sum = 0;
      for (int i = 0; i < 4; ++i) sum += a.values.item(n * 4 + i);
      CHECK(sum == doctest::Approx(full - empty).epsilon(1e-12));                               // efficiency
      CHECK(a.values.item(n * 4) == doctest::Approx(a.values.item(n * 4 + 1)).epsilon(1e-12));  // symmetry
      CHECK(std::abs(a.values.item(n * 4 + 3)) < 1e-12);                                        // dummy
    }
  }
  // Linear model: φ_i = w_i (x_i − b).
  const Model lin = linear_model({0.5, -2.0, 1.5, 3.0, 0.25}, 0.3);
  Rng rng(3);
  const Tensor xl = random_tensor({3, 5}, rng, -1, 1);
  const Attribution al = run("shapley-values", lin, xl, {0, 0, 0}, {{"baseline", "0.2"}});
  const double w[] = {0.5, -2.0, 1.5, 3.0, 0.25};
  for (int64_t i = 0; i < 15; ++i)
    CHECK(al.values.item(i) == doctest::Approx(w[i % 5] * (xl.item(i) - 0.2)).epsilon(1e-12));
}

TEST_CASE("KernelSHAP: the exact regime equals the Shapley values; sampled estimates converge") {
  Rng rng(5);
  const Model m = mlp(rng, 10, 16, 3);
  const Tensor x = random_tensor({2, 10}, rng, 0, 1);
  const std::vector<int64_t> t{0, 2};
  for (const char* s : {"logit", "prob"}) {
    const Attribution shap = run("shapley-values", m, x, t, {{"score", s}});
    const Attribution exact = run("kernel-shap", m, x, t, {{"score", s}, {"samples", "1022"}});
    CHECK(exact.parameters.at("regime") == "exact");
    CHECK(rel_diff(exact.values, shap.values) < 1e-10);
  }
  const Attribution shap = run("shapley-values", m, x, t, {{"score", "logit"}});
  double previous = 1e9;
  for (const char* k : {"30", "300", "1000"}) {
    const Attribution a = run("kernel-shap", m, x, t, {{"samples", k}, {"seed", "7"}});
    CHECK(a.parameters.at("regime") == "sampled");
    const double err = rel_diff(a.values, shap.values);
    MESSAGE("kernel-shap K = " << std::string(k) << ": relative L2 error " << err);
    CHECK(err < previous);
    previous = err;
    // Efficiency is a constraint, so it holds exactly for any sample.
    for (int64_t n = 0; n < 2; ++n) {
      double sa = 0, ss = 0;
      for (int i = 0; i < 10; ++i) sa += a.values.item(n * 10 + i), ss += shap.values.item(n * 10 + i);
      CHECK(sa == doctest::Approx(ss).epsilon(1e-10));
    }
    // Same seed, same bits.
    const Attribution again = run("kernel-shap", m, x, t, {{"samples", k}, {"seed", "7"}});
    for (int64_t i = 0; i < a.values.numel(); ++i) CHECK(a.values.item(i) == again.values.item(i));
  }
  CHECK(previous < 0.1);
}

TEST_CASE("LIME recovers the coefficients of a linear model; R² is 1") {
  const std::vector<double> w{0.5, -2.0, 1.5, 3.0, 0.25, -1.0};
  const Model lin = linear_model(w, -0.4);
  Rng rng(9);
  const Tensor x = random_tensor({2, 6}, rng, -1, 1);
  for (const char* surrogate : {"ridge", "lasso"}) {
    CAPTURE(surrogate);
    const Attribution a = run("lime", lin, x, {0, 0},
                              {{"samples", "200"},
                               {"seed", "1"},
                               {"ridge", "1e-9"},
                               {"surrogate", surrogate},
                               {"baseline", "0.3"},
                               {"kernel-width", "0.5"}});
    // v(z) = b + Σ_i w_i (0.3 + z_i (x_i − 0.3)) is linear in z with slopes w_i (x_i − 0.3).
    for (int64_t i = 0; i < 12; ++i)
      CHECK(a.values.item(i) == doctest::Approx(w[i % 6] * (x.item(i) - 0.3)).epsilon(1e-6));
    CHECK(a.parameters.at("r2") == "1.000000,1.000000");
  }
  // A strong ridge shrinks the coefficients towards 0.
  const Attribution shrunk = run("lime", lin, x, {0, 0}, {{"samples", "200"}, {"ridge", "100"}});
  for (int64_t i = 0; i < 6; ++i) CHECK(std::abs(shrunk.values.item(i)) < std::abs(w[i] * x.item(i)));
}

TEST_CASE("RISE points at the only region a model looks at") {
  // (1, 1, 12, 12) images, the model sums the pixels of the 3x3 square at rows 1..3, columns 7..9.
  std::vector<double> w(144, 0.0);
  for (int r = 1; r <= 3; ++r)
    for (int c = 7; c <= 9; ++c) w[r * 12 + c] = 1.0;
  const Model m = linear_model(w, 0.0);
  const Tensor x = Tensor::full({1, 1, 12, 12}, 1.0, DType::F64);
  const Attribution a = run("rise", m, x, {0}, {{"masks", "2000"}, {"cell", "3"}, {"p", "0.5"}, {"seed", "4"}});
  REQUIRE(a.values.shape() == Shape{1, 1, 12, 12});
  double inside = 0, far = 0, far_max = -1e9, in_min = 1e9;
  int n_far = 0;
  for (int r = 0; r < 12; ++r)
    for (int c = 0; c < 12; ++c) {
      const double v = a.values.item(r * 12 + c);
      if (w[r * 12 + c] > 0) inside += v / 9, in_min = std::min(in_min, v);
      if (r >= 7 && c <= 4) far += v, far_max = std::max(far_max, v), ++n_far;
    }
  far /= n_far;
  MESSAGE("RISE: mean inside " << inside << ", mean far away " << far << " (far max " << far_max << ")");
  // Far from the region the saliency is E[s] (masks there are independent of s): 9 · 0.5 = 4.5.
  CHECK(far == doctest::Approx(4.5).epsilon(0.05));
  CHECK(in_min > far_max);
  CHECK(inside > far + 1.0);
}

TEST_CASE("DeepLIFT-SHAP sums to f(x) − mean_j f(b_j); expected gradients are nearly complete") {
  Rng rng(21);
  const Model m = conv_pool_cnn(rng);
  const Tensor x = random_tensor({2, 1, 8, 8}, rng, 0, 1);
  const Tensor B = random_tensor({3, 1, 8, 8}, rng, 0, 1);
  const std::string path = temp_path("baselines.npy");
  save_npy(path, B.to(DType::F32));
  const Tensor Bf = B.to(DType::F32).to(DType::F64);
  const std::vector<int64_t> t{1, 3};
  const Attribution dls = run("deeplift-shap", m, x, t, {{"baselines", path}, {"score", "logit"}});
  const Attribution eg =
      run("expected-gradients", m, x, t, {{"baselines", path}, {"steps", "64"}, {"score", "log-prob"}});
  for (int64_t n = 0; n < 2; ++n) {
    double mean_logit = 0, mean_lp = 0, sum_dls = 0, sum_eg = 0;
    for (int64_t j = 0; j < 3; ++j) {
      mean_logit += score(m, Bf.slice_batch(j, j + 1), 0, t[n], ScoreKind::Logit) / 3;
      mean_lp += score(m, Bf.slice_batch(j, j + 1), 0, t[n], ScoreKind::LogProb) / 3;
    }
    for (int64_t i = 0; i < 64; ++i) sum_dls += dls.values.item(n * 64 + i), sum_eg += eg.values.item(n * 64 + i);
    CHECK(sum_dls == doctest::Approx(score(m, x, n, t[n], ScoreKind::Logit) - mean_logit).epsilon(1e-10));
    CHECK(sum_eg == doctest::Approx(score(m, x, n, t[n], ScoreKind::LogProb) - mean_lp).epsilon(2e-3));
  }
  // Batch independence: sample 1 alone gives the same values.
  const Attribution one = run("deeplift-shap", m, x.slice_batch(1, 2), {3}, {{"baselines", path}});
  for (int64_t i = 0; i < 64; ++i) CHECK(one.values.item(i) == doctest::Approx(dls.values.item(64 + i)).epsilon(1e-12));
}

TEST_CASE("perturbation explainers: bad input fails with one line naming the option") {
  Rng rng(2);
  const Model m = mlp(rng, 6, 8, 3);
  const Tensor x = random_tensor({2, 6}, rng, 0, 1);
  const std::vector<int64_t> t{0, 1};
  const std::string mask = temp_path("mask.npy"), gap = temp_path("gap.npy"), z = temp_path("z.npy");
  save_npy(mask, Tensor::from_vector({5}, std::vector<int64_t>{0, 1, 2, 3, 4}));    // 5 entries for D = 6
  save_npy(gap, Tensor::from_vector({6}, std::vector<int64_t>{0, 0, 1, 1, 3, 3}));  // group 2 empty
  save_npy(z, Tensor::from_vector({2, 6}, std::vector<float>{1, 0, 1, 0, 1, 0, 1, 1, 0.5, 1, 0, 0}));
  const auto fails = [&](const std::string& method, std::map<std::string, std::string> opts, const std::string& what) {
    const std::string msg = error_of([&] { run(method, m, x, t, opts); });
    CAPTURE(method);
    CAPTURE(msg);
    CHECK(msg.find(what) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  };
  fails("feature-ablation", {{"feature-mask", mask}}, "--feature-mask");
  fails("shapley-values", {{"feature-mask", gap}}, "group 2 is empty");
  fails("feature-ablation", {{"score", "probability"}}, "--score");
  fails("kernel-shap", {{"samples", "0"}}, "--samples");
  fails("kernel-shap", {{"seed", "-3"}}, "--seed");
  fails("lime", {{"kernel-width", "0"}}, "--kernel-width");
  fails("lime", {{"kernel-width", "-1"}}, "--kernel-width");
  fails("lime", {{"coalitions", z}}, "exactly 0 or 1");
  fails("lime", {{"samples", "0"}}, "--samples");
  fails("feature-ablation", {{"pad-id", "0"}}, "--pad-id");
  fails("rise", {{"masks", "10"}}, "rise");  // not an image
  fails("deeplift-shap", {{"baselines", mask}}, "--baselines");
  fails("deeplift-shap", {{"baselines", mask}, {"score", "prob"}}, "--score");
  // Too many groups for exact Shapley values, refused before any forward pass.
  const Model wide = mlp(rng, 20, 4, 2);
  const std::string msg = error_of([&] { run("shapley-values", wide, random_tensor({1, 20}, rng, 0, 1), {0}, {}); });
  CHECK(msg.find("20 groups") != std::string::npos);
  // Coalitions of the wrong width, RISE masks of the wrong size.
  save_npy(z, Tensor::from_vector({1, 4}, std::vector<float>{1, 0, 1, 0}));
  fails("lime", {{"coalitions", z}}, "(S, 6)");
  const Model img = linear_model(std::vector<double>(16, 1.0), 0.0);
  const std::string masks = temp_path("masks.npy");
  save_npy(masks, Tensor::full({3, 4, 5}, 0.5, DType::F32));
  const std::string rmsg = error_of([&] {
    run("rise", img, Tensor::full({1, 1, 4, 4}, 1.0, DType::F64), {0}, {{"masks", masks}});
  });
  CHECK(rmsg.find("--masks") != std::string::npos);
}

TEST_CASE("Shapley value sampling: exact efficiency, antithetic pairs exact for two groups, convergence") {
  Rng rng(8);
  const Model m = mlp(rng, 8, 12, 3);
  const Tensor x = random_tensor({2, 8}, rng, 0, 1);
  const std::vector<int64_t> t{1, 2};
  const Attribution shap = run("shapley-values", m, x, t, {{"score", "prob"}});
  double previous = 1e9;
  for (const char* k : {"4", "40", "400"}) {
    const Attribution a = run("shapley-sampling", m, x, t, {{"samples", k}, {"seed", "3"}, {"score", "prob"}});
    const double err = rel_diff(a.values, shap.values);
    MESSAGE("shapley-sampling M = " << std::string(k) << ": relative L2 error " << err);
    CHECK(err < previous);
    previous = err;
    for (int64_t n = 0; n < 2; ++n) {
      double sa = 0, ss = 0;
      for (int i = 0; i < 8; ++i) sa += a.values.item(n * 8 + i), ss += shap.values.item(n * 8 + i);
      CHECK(sa == doctest::Approx(ss).epsilon(1e-12));
    }
  }
  CHECK(previous < 0.05);
  // Two groups: one antithetic pair is both orderings, so the estimate is exact.
  const std::string mask = temp_path("two-groups.npy");
  save_npy(mask, Tensor::from_vector({8}, std::vector<int64_t>{0, 1, 1, 0, 1, 0, 0, 1}));
  const Attribution two = run("shapley-sampling", m, x, t, {{"samples", "2"}, {"feature-mask", mask}});
  const Attribution exact = run("shapley-values", m, x, t, {{"feature-mask", mask}});
  CHECK(rel_diff(two.values, exact.values) < 1e-12);
}

TEST_CASE("GradientSHAP: exact on a linear model, converges to expected gradients") {
  const std::vector<double> w{0.5, -2.0, 1.5, 3.0};
  const Model lin = linear_model(w, 0.1);
  Rng rng(12);
  const Tensor x = random_tensor({2, 4}, rng, -1, 1);
  const std::string one = temp_path("one-baseline.npy"), three = temp_path("three-baselines.npy");
  const Tensor b1 = random_tensor({1, 4}, rng, -1, 1).to(DType::F32);
  save_npy(one, b1);
  const Attribution a = run("gradient-shap", lin, x, {0, 0}, {{"baselines", one}, {"samples", "7"}});
  for (int64_t i = 0; i < 8; ++i) CHECK(a.values.item(i) == doctest::Approx(w[i % 4] * (x.item(i) - b1.item(i % 4))));
  // On an MLP, many draws approach expected gradients over the same baselines.
  const Model m = mlp(rng, 4, 8, 2);
  save_npy(three, random_tensor({3, 4}, rng, -1, 1).to(DType::F32));
  const Attribution eg = run("expected-gradients", m, x, {0, 1}, {{"baselines", three}, {"steps", "32"}});
  const Attribution gs =
      run("gradient-shap", m, x, {0, 1}, {{"baselines", three}, {"samples", "20000"}, {"seed", "5"}});
  const double err = rel_diff(gs.values, eg.values);
  MESSAGE("gradient-shap (20000 draws) vs expected gradients: relative L2 " << err);
  CHECK(err < 0.05);
  // Noise: same seed, same bits; another seed, other values.
  const Attribution n1 = run("gradient-shap", m, x, {0, 1}, {{"baselines", three}, {"stdevs", "0.1"}, {"seed", "1"}});
  const Attribution n2 = run("gradient-shap", m, x, {0, 1}, {{"baselines", three}, {"stdevs", "0.1"}, {"seed", "1"}});
  const Attribution n3 = run("gradient-shap", m, x, {0, 1}, {{"baselines", three}, {"stdevs", "0.1"}, {"seed", "2"}});
  CHECK(rel_diff(n1.values, n2.values) == 0.0);
  CHECK(rel_diff(n1.values, n3.values) > 0.0);
}

TEST_CASE("DeepLIFT RevealCancel: the paper's cancellation example, summation to delta") {
  // y = relu(x0 + x1) at x = (1, −1) against 0: Δz = 0, so rescale falls back to relu'(0) = 0 and gives
  // nothing; RevealCancel splits Δz into +1 and −1 and gives (½, −½) (Shrikumar et al. 2017, §3.5.3).
  Model m;
  m.add_input("x");
  auto fc1 = std::make_shared<Linear>("fc1", 2, 1, true, DType::F64);
  fc1->params()[0]->value.fill(1.0);
  auto fc2 = std::make_shared<Linear>("fc2", 1, 1, true, DType::F64);
  fc2->params()[0]->value.fill(1.0);
  m.append("fc1", fc1);
  m.append("relu", std::make_shared<ReLU>());
  m.append("fc2", fc2);
  m.to(DType::F64);
  const Tensor x = Tensor::from_vector({1, 2}, std::vector<double>{1.0, -1.0});
  const Attribution rescale = run("deeplift", m, x, {0}, {});
  const Attribution rc = run("deeplift", m, x, {0}, {{"rule", "reveal-cancel"}});
  CHECK(rescale.values.item(0) == 0.0);
  CHECK(rescale.values.item(1) == 0.0);
  CHECK(rc.values.item(0) == doctest::Approx(0.5));
  CHECK(rc.values.item(1) == doctest::Approx(-0.5));
  // Summation to delta on a CNN with max-pooling and on an MLP, against a random baseline.
  Rng rng(31);
  const Model cnn = conv_pool_cnn(rng);
  const Model mm = mlp(rng, 6, 10, 3);
  const std::string base_img = temp_path("base-img.npy"), base_vec = temp_path("base-vec.npy");
  save_npy(base_img, random_tensor({1, 8, 8}, rng, 0, 1).to(DType::F32));
  save_npy(base_vec, random_tensor({6}, rng, 0, 1).to(DType::F32));
  for (const auto& [model, input, base] :
       {std::tuple{static_cast<const Model*>(&cnn), random_tensor({2, 1, 8, 8}, rng, 0, 1), base_img},
        std::tuple{&mm, random_tensor({2, 6}, rng, -1, 1), base_vec}}) {
    const Attribution a = run("deeplift", *model, input, {1, 2}, {{"rule", "reveal-cancel"}, {"baseline", base}});
    const Attribution r = run("deeplift", *model, input, {1, 2}, {{"baseline", base}});
    const Tensor b = load_npy(base).to(DType::F64);
    Shape one = input.shape();
    one[0] = 1;
    const int64_t per = input.numel() / 2;
    for (int64_t n = 0; n < 2; ++n) {
      double sum = 0;
      for (int64_t i = 0; i < per; ++i) sum += a.values.item(n * per + i);
      const double fx = score(*model, input, n, n + 1, ScoreKind::Logit);
      const double fb = score(*model, b.reshape(one), 0, n + 1, ScoreKind::Logit);
      CHECK(sum == doctest::Approx(fx - fb).epsilon(1e-10));
    }
    CHECK(rel_diff(a.values, r.values) > 1e-6);  // the rule changes something
  }
  CHECK(error_of([&] { run("deeplift", m, x, {0}, {{"rule", "epsilon"}}); }).find("--rule") != std::string::npos);
}

TEST_CASE("without --baselines: expected gradients = integrated gradients, DeepLIFT-SHAP = DeepLIFT, from 0") {
  Rng rng(17);
  const Model m = mlp(rng, 5, 7, 3);
  const Tensor x = random_tensor({2, 5}, rng, -1, 1);
  const Attribution eg = run("expected-gradients", m, x, {0, 2}, {{"steps", "16"}});
  const Attribution ig = run("integrated-gradients", m, x, {0, 2}, {{"steps", "16"}});
  CHECK(rel_diff(eg.values, ig.values) < 1e-12);
  const Attribution dls = run("deeplift-shap", m, x, {0, 2}, {});
  const Attribution dl = run("deeplift", m, x, {0, 2}, {});
  CHECK(rel_diff(dls.values, dl.values) < 1e-12);
}
