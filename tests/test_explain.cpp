// Property tests of the gradient family of explainers and the attacks (explain/), each against its
// defining property on small hand-built models: IG completeness and its convergence, the Gauss–Legendre
// rule, guided backprop / deconvnet on a hand-computed network, Grad-CAM vs CAM on a GAP network,
// DeepLIFT summation-to-delta and batch independence, occlusion on a linear model, FGSM/PGD geometry,
// SmoothGrad determinism, token models (embedding-output attributions). The golden cases (tests/golden,
// golden_runner) check agreement with the reference libraries.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "engine/ops.h"
#include "explain/attack.h"
#include "explain/grad_cam.h"
#include "explain/integrated_gradients.h"
#include "explain/point.h"
#include "explain/registry.h"
#include "explain/targets.h"
#include "explain/upsample.h"
#include "layers/conv2d.h"
#include "layers/embedding.h"
#include "layers/flatten.h"
#include "layers/global_avg_pool.h"
#include "layers/layer_norm.h"
#include "layers/linear.h"
#include "layers/maxpool2d.h"
#include "layers/registry.h"
#include "layers/relu.h"
#include "layers/tanh.h"
#include "models/model.h"
#include "tests/explain_run.h"
#include "tests/gradcheck.h"

using namespace xdnn;
using namespace xdnn::explain;

namespace {

std::shared_ptr<Linear> linear(const std::string& name, int64_t in, int64_t out, Rng& rng, DType dt) {
  auto l = std::make_shared<Linear>(name, in, out, true, dt);
  l->init(rng);
  return l;
}

// x (N, 6) -> Linear(6, 8) -> act -> Linear(8, 3)
Model mlp(Rng& rng, DType dt, bool smooth = false) {
  Model m;
  m.add_input("x");
  m.append("fc1", linear("fc1", 6, 8, rng, dt));
  if (smooth)
    m.append("act", std::make_shared<Tanh>());
  else
    m.append("act", std::make_shared<ReLU>());
  m.append("fc2", linear("fc2", 8, 3, rng, dt));
  m.to(dt);  // the model's compute dtype (explainers convert inputs to it)
  return m;
}

// x (N, 2, 8, 8) -> Conv(2->4, 3x3, pad 1) -> ReLU -> MaxPool 2 -> Conv(4->3, 3x3, pad 1) -> ReLU -> Flatten
// -> Linear(48, 5)
Model cnn(Rng& rng, DType dt) {
  Model m;
  m.add_input("x");
  auto c1 = std::make_shared<Conv2d>("conv1", 2, 4, 3, 3, Conv2dOptions::same(1, 1), dt);
  c1->init(rng);
  auto c2 = std::make_shared<Conv2d>("conv2", 4, 3, 3, 3, Conv2dOptions::same(1, 1), dt);
  c2->init(rng);
  m.append("conv1", c1);
  m.append("relu1", std::make_shared<ReLU>());
  m.append("pool1", std::make_shared<MaxPool2d>(2));
  m.append("conv2", c2);
  m.append("relu2", std::make_shared<ReLU>());
  m.append("flat", std::make_shared<Flatten>());
  m.append("fc", linear("fc", 48, 5, rng, dt));
  m.to(dt);
  return m;
}

// x (N, 2, 6, 6) -> Conv(2->3) -> ReLU -> GlobalAvgPool -> Flatten -> Linear(3, 4): a CAM network.
Model gap_net(Rng& rng, DType dt) {
  Model m;
  m.add_input("x");
  auto c1 = std::make_shared<Conv2d>("conv1", 2, 3, 3, 3, Conv2dOptions::same(1, 1), dt);
  c1->init(rng);
  m.append("conv1", c1);
  m.append("relu1", std::make_shared<ReLU>());
  m.append("gap", std::make_shared<GlobalAvgPool>());
  m.append("flat", std::make_shared<Flatten>());
  m.append("fc", linear("fc", 3, 4, rng, dt));
  m.to(dt);
  return m;
}

Tensor uniform(const Shape& s, Rng& rng, DType dt, double lo = 0.0, double hi = 1.0) {
  return random_tensor(s, rng, lo, hi).to(dt);
}

using testing::run;

double target_logit(const Model& m, const Tensor& x, int64_t n, int64_t k) {
  Tensor y = m.predict(x);
  return y.item(n * y.dim(1) + k);
}

double sample_sum(const Tensor& a, int64_t n) {
  const int64_t per = a.numel() / a.dim(0);
  double s = 0;
  for (int64_t i = 0; i < per; ++i) s += a.item(n * per + i);
  return s;
}

}  // namespace

TEST_CASE("explain registry: every gradient-family method is registered and options resolve") {
  for (const char* name : {"saliency", "gradient-x-input", "smoothgrad", "integrated-gradients", "guided-backprop",
                           "deconvnet", "cam", "grad-cam", "guided-grad-cam", "deeplift", "occlusion"})
    CHECK_NOTHROW(find_method(name));
  CHECK_THROWS_WITH_AS(find_method("nope"), "unknown explanation method 'nope'", Error);
  Options o = resolve_options(find_method("integrated-gradients"), {{"steps", "7"}});
  CHECK(o.get_int("steps", 0) == 7);
  CHECK(o.get("integration", "") == "gauss-legendre");  // default filled in
  CHECK_THROWS_AS(resolve_options(find_method("saliency"), {{"steps", "3"}}), Error);
  Options bad;
  bad.values["steps"] = "3x";
  CHECK_THROWS_AS(bad.get_int("steps", 1), Error);
  // Every option name is declared once in the union the CLI uses.
  auto all = all_method_options();
  for (size_t i = 1; i < all.size(); ++i) CHECK(all[i - 1].name < all[i].name);
}

TEST_CASE("Gauss-Legendre nodes and weights") {
  Quadrature q3 = gauss_legendre(3);
  CHECK(q3.alphas[0] == doctest::Approx(-std::sqrt(0.6)).epsilon(1e-15));
  CHECK(std::abs(q3.alphas[1]) < 1e-15);
  CHECK(q3.alphas[2] == doctest::Approx(std::sqrt(0.6)).epsilon(1e-15));
  CHECK(q3.weights[0] == doctest::Approx(5.0 / 9.0).epsilon(1e-15));
  CHECK(q3.weights[1] == doctest::Approx(8.0 / 9.0).epsilon(1e-15));
  for (int n : {1, 2, 5, 16, 50, 64}) {
    Quadrature q = gauss_legendre(n);
    double wsum = 0;
    for (int i = 0; i < n; ++i) {
      wsum += q.weights[i];
      if (i > 0) CHECK(q.alphas[i] > q.alphas[i - 1]);  // increasing
    }
    CHECK(std::abs(wsum - 2.0) < 1e-13);
    // Exact for polynomials up to degree 2n − 1: ∫_{−1}^{1} t^k dt = 2/(k+1) for even k, 0 for odd k.
    for (int k = 0; k <= 2 * n - 1; ++k) {
      double s = 0;
      for (int i = 0; i < n; ++i) s += q.weights[i] * std::pow(q.alphas[i], k);
      const double exact = k % 2 ? 0.0 : 2.0 / (k + 1);
      CHECK(std::abs(s - exact) < 1e-12);
    }
  }
  Quadrature t = integration_rule("riemann-trapezoid", 5);  // the reference's convention
  CHECK(t.alphas.front() == 0.0);
  CHECK(t.alphas.back() == 1.0);
  double ts = 0;
  for (double w : t.weights) ts += w;
  CHECK(ts == doctest::Approx(4.0 / 5.0));
  CHECK_THROWS_AS(integration_rule("riemann-left", 1), Error);
  CHECK_THROWS_AS(integration_rule("simpson", 8), Error);
}

TEST_CASE("integrated gradients: completeness, and its error falls as steps grow") {
  Rng rng(1);
  Model m = mlp(rng, DType::F64, /*smooth=*/true);
  Tensor x = uniform({3, 6}, rng, DType::F64, -1, 1);
  const std::vector<int64_t> targets{0, 2, 1};
  const Tensor zero(x.shape(), DType::F64);
  for (const char* rule : {"gauss-legendre", "riemann-middle", "riemann-right"}) {
    double prev = 1e300;
    for (int steps : {4, 16, 64}) {
      Tensor a =
          run("integrated-gradients", m, x, targets, {{"steps", std::to_string(steps)}, {"integration", rule}}).values;
      double err = 0;
      for (int64_t n = 0; n < 3; ++n)
        err += std::abs(sample_sum(a, n) - (target_logit(m, x, n, targets[n]) - target_logit(m, zero, n, targets[n])));
      INFO(std::string(rule), " steps ", steps, " completeness error ", err);
      CHECK((err < prev || err < 1e-13));  // Gauss-Legendre reaches rounding level early
      prev = err;
    }
    if (std::string(rule) == "gauss-legendre") CHECK(prev < 1e-10);
  }
  // Batch independence and the chunked batching: a sample alone gives the same attribution.
  Tensor all = run("integrated-gradients", m, x, targets, {{"steps", "300"}}).values;
  Tensor one = run("integrated-gradients", m, x.slice_batch(1, 2).clone(), {2}, {{"steps", "300"}}).values;
  CHECK(testing::max_rel_diff(one, all.slice_batch(1, 2).clone()) < 1e-12);
  // ReLU network, float32, against f(x) − f(baseline) with a constant baseline.
  Model r = mlp(rng, DType::F32);
  Tensor xf = uniform({2, 6}, rng, DType::F32);
  Tensor a = run("integrated-gradients", r, xf, {1, 1}, {{"steps", "256"}, {"baseline", "0.25"}}).values;
  Tensor b = Tensor::full(xf.shape(), 0.25, DType::F32);
  for (int64_t n = 0; n < 2; ++n)
    CHECK(sample_sum(a, n) == doctest::Approx(target_logit(r, xf, n, 1) - target_logit(r, b, n, 1)).epsilon(2e-3));
}

TEST_CASE("saliency and gradient x input equal finite differences of the target logit") {
  Rng rng(2);
  Model m = cnn(rng, DType::F64);
  Tensor x = uniform({2, 2, 8, 8}, rng, DType::F64);
  Tensor s = run("saliency", m, x, {3, 1}).values;
  Tensor gxi = run("gradient-x-input", m, x, {3, 1}).values;
  Tensor xs = x.slice_batch(0, 1).clone();
  Tensor num = testing::numeric_gradient([&] { return target_logit(m, xs, 0, 3); }, xs);
  CHECK(testing::max_rel_diff(s.slice_batch(0, 1).clone(), num) < 1e-6);
  CHECK(testing::max_rel_diff(gxi, ops::mul(x, s)) < 1e-15);
}

TEST_CASE("guided backprop and deconvnet on a hand-computed network") {
  // z = W1 x with W1 = [[1, -1], [2, 1]], x = (1, 2): z = (−1, 4), so the first ReLU is off.
  // Logits = W2 relu(z), W2 = [[2, 3], [2, -3]]. For target 0 the gradient at relu's output is (2, 3):
  //   ordinary: (0, 3) through the mask -> W1ᵀ(0, 3) = (6, 3); guided: max((2,3),0)·mask = (0, 3) -> (6, 3);
  //   deconvnet: max((2, 3), 0) = (2, 3) -> W1ᵀ(2, 3) = (8, 1).
  // For target 1 it is (2, −3): ordinary (0, −3) -> (−6, −3); guided (0, 0) -> (0, 0); deconv (2, 0) -> (2, −2).
  Model m;
  m.add_input("x");
  auto l1 = std::make_shared<Linear>("fc1", 2, 2, true, DType::F64);
  auto l2 = std::make_shared<Linear>("fc2", 2, 2, true, DType::F64);
  const double w1[] = {1, -1, 2, 1}, w2[] = {2, 3, 2, -3};
  for (int i = 0; i < 4; ++i) l1->params()[0]->value.set_item(i, w1[i]), l2->params()[0]->value.set_item(i, w2[i]);
  m.append("fc1", l1);
  m.append("relu", std::make_shared<ReLU>());
  m.append("fc2", l2);
  m.to(DType::F64);
  Tensor x = Tensor::from_vector({2, 2}, std::vector<double>{1, 2, 1, 2});
  auto expect = [](const Tensor& a, std::vector<double> v) {
    for (int i = 0; i < 4; ++i) CHECK(a.item(i) == doctest::Approx(v[i]));
  };
  expect(run("saliency", m, x, {0, 1}).values, {6, 3, -6, -3});
  expect(run("guided-backprop", m, x, {0, 1}).values, {6, 3, 0, 0});
  expect(run("deconvnet", m, x, {0, 1}).values, {8, 1, 2, -2});
}

TEST_CASE("Grad-CAM equals ReLU(CAM)/(h·w) on a global-average-pooling network") {
  Rng rng(3);
  Model m = gap_net(rng, DType::F64);
  Tensor x = uniform({3, 2, 6, 6}, rng, DType::F64, -1, 1);
  const std::vector<int64_t> t{0, 3, 2};
  ExplainRequest req;
  req.model = &m;
  req.input = x;
  CHECK(default_cam_layer(m, x) == "relu1");
  Tensor gc = run("grad-cam", m, x, t).values;  // default layer: relu1
  Tensor cam = run("cam", m, x, t).values;
  REQUIRE(gc.shape() == Shape{3, 1, 6, 6});
  REQUIRE(cam.shape() == gc.shape());
  Tensor expect = ops::scale(ops::unary(ops::Unary::Relu, cam), 1.0 / 36.0);
  CHECK(testing::max_rel_diff(gc, expect) < 1e-12);
  double total = 0;
  for (int64_t i = 0; i < cam.numel(); ++i) total += std::abs(cam.item(i));
  CHECK(total > 0);
  // With --upsample the map is resized to (H, W) = (6, 6): the identity here.
  Tensor up = run("grad-cam", m, x, t, {{"layer", "relu1"}, {"upsample", "true"}}).values;
  CHECK(testing::max_rel_diff(up, gc) < 1e-15);
  // CAM on a network without GAP is an error that names the alternative.
  Model c = cnn(rng, DType::F64);
  CHECK_THROWS_AS(run("cam", c, uniform({1, 2, 8, 8}, rng, DType::F64), {0}), Error);
}

TEST_CASE("bilinear upsampling with half-pixel centres matches the formula") {
  Rng rng(4);
  const int64_t h = 2, w = 3, H = 5, W = 7;
  Tensor cam = uniform({2, 1, h, w}, rng, DType::F64);
  Tensor up = upsample_bilinear(cam, H, W);
  auto src = [](int64_t y, int64_t in, int64_t out, int64_t& y0, int64_t& y1, double& l) {
    double s = std::max((y + 0.5) * static_cast<double>(in) / static_cast<double>(out) - 0.5, 0.0);
    y0 = static_cast<int64_t>(std::floor(s));
    y1 = std::min(y0 + 1, in - 1);
    l = s - static_cast<double>(y0);
  };
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        int64_t y0, y1, x0, x1;
        double ly, lx;
        src(y, h, H, y0, y1, ly);
        src(x, w, W, x0, x1, lx);
        auto v = [&](int64_t r, int64_t c) { return cam.item(n * h * w + r * w + c); };
        double row0 = (1 - lx) * v(y0, x0) + lx * v(y0, x1), row1 = (1 - lx) * v(y1, x0) + lx * v(y1, x1);
        CHECK(up.item(n * H * W + y * W + x) == doctest::Approx((1 - ly) * row0 + ly * row1).epsilon(1e-14));
      }
}

TEST_CASE("guided Grad-CAM is guided backprop times the upsampled Grad-CAM") {
  Rng rng(5);
  Model m = cnn(rng, DType::F64);
  Tensor x = uniform({2, 2, 8, 8}, rng, DType::F64);
  Tensor g = run("guided-backprop", m, x, {1, 4}).values;
  Tensor c = run("grad-cam", m, x, {1, 4}, {{"layer", "relu2"}, {"upsample", "true"}}).values;
  Tensor gg = run("guided-grad-cam", m, x, {1, 4}, {{"layer", "relu2"}}).values;
  CHECK(testing::max_rel_diff(gg, ops::mul(g, c)) < 1e-15);
}

TEST_CASE("DeepLIFT: summation to delta through ReLU and MaxPool, batch independent") {
  Rng rng(6);
  for (DType dt : {DType::F64, DType::F32}) {
    Model m = cnn(rng, dt);
    Tensor x = uniform({3, 2, 8, 8}, rng, dt);
    // Exact zeros create max-pool ties and ReLU inputs equal to the bias, as in Fashion-MNIST images.
    for (int64_t i = 0; i < x.numel(); i += 3) x.set_item(i, 0.0);
    const std::vector<int64_t> t{0, 2, 4};
    Tensor a = run("deeplift", m, x, t).values;
    const Tensor zero(x.shape(), dt);
    for (int64_t n = 0; n < 3; ++n) {
      const double delta = target_logit(m, x, n, t[n]) - target_logit(m, zero, n, t[n]);
      INFO("dtype ", dtype_name(dt), " sample ", n);
      CHECK(std::abs(sample_sum(a, n) - delta) <= (dt == DType::F64 ? 1e-10 : 1e-4) * std::max(1.0, std::abs(delta)));
    }
    Tensor one = run("deeplift", m, x.slice_batch(2, 3).clone(), {4}).values;
    CHECK(testing::max_rel_diff(one, a.slice_batch(2, 3).clone()) < 1e-6);
  }
  // On a network without nonlinearities DeepLIFT is gradient x input (the multipliers are the gradient).
  Model lin;
  lin.add_input("x");
  lin.append("fc", linear("fc", 6, 3, rng, DType::F64));
  lin.to(DType::F64);
  Tensor x = uniform({2, 6}, rng, DType::F64);
  CHECK(testing::max_rel_diff(run("deeplift", lin, x, {0, 2}).values, run("gradient-x-input", lin, x, {0, 2}).values) <
        1e-14);
}

TEST_CASE("occlusion on a linear model equals the analytic window means") {
  Rng rng(7);
  Model m;  // f(x) = W x + b on (N, 7)
  m.add_input("x");
  auto fc = linear("fc", 7, 2, rng, DType::F64);
  m.append("fc", fc);
  m.to(DType::F64);
  const Tensor& W = fc->params()[0]->value;
  Tensor x = uniform({2, 7}, rng, DType::F64, -1, 1);
  const std::vector<int64_t> t{1, 0};
  // Window 4, stride 2 on 7 elements: starts 0, 2, 4 (the last window [4, 7) is cut short).
  Tensor a = run("occlusion", m, x, t, {{"window", "4"}, {"stride", "2"}}).values;
  const int64_t starts[] = {0, 2, 4};
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t i = 0; i < 7; ++i) {
      double sum = 0, count = 0;
      for (int64_t s : starts) {
        if (i < s || i >= std::min<int64_t>(s + 4, 7)) continue;
        double d = 0;  // f(x) − f(x with [s, s+4) zeroed) = Σ_{j in window} W[t, j] x_j
        for (int64_t j = s; j < std::min<int64_t>(s + 4, 7); ++j) d += W.item(t[n] * 7 + j) * x.item(n * 7 + j);
        sum += d;
        count += 1;
      }
      CHECK(a.item(n * 7 + i) == doctest::Approx(sum / count).epsilon(1e-12));
    }
  // Without --stride the window slides by 1: window 2 on 7 elements has starts 0..5.
  Tensor a2 = run("occlusion", m, x, t, {{"window", "2"}}).values;
  for (int64_t i = 0; i < 7; ++i) {
    double sum = 0, count = 0;
    for (int64_t s = std::max<int64_t>(0, i - 1); s <= std::min<int64_t>(i, 5); ++s) {
      sum += W.item(t[0] * 7 + s) * x.item(s) + W.item(t[0] * 7 + s + 1) * x.item(s + 1);
      count += 1;
    }
    CHECK(a2.item(i) == doctest::Approx(sum / count).epsilon(1e-12));
  }
  // Window 1 gives exactly gradient x input on a linear model.
  Tensor a1 = run("occlusion", m, x, t, {{"window", "1"}}).values;
  CHECK(testing::max_rel_diff(a1, run("gradient-x-input", m, x, t).values) < 1e-12);
  CHECK_THROWS_AS(run("occlusion", m, x, t, {{"window", "1,2"}}), Error);
  CHECK_THROWS_AS(run("occlusion", m, x, t, {}), Error);
}

TEST_CASE("FGSM moves every pixel by exactly epsilon or is clipped; PGD stays in the ball") {
  Rng rng(8);
  Model m = cnn(rng, DType::F32);
  Tensor x = uniform({3, 2, 8, 8}, rng, DType::F32);
  for (int64_t i = 0; i < x.numel(); i += 5) x.set_item(i, i % 2 ? 1.0 : 0.0);  // pixels on the box edges
  Tensor y = Tensor::from_vector({3}, std::vector<int64_t>{0, 3, 4});
  const double eps = 0.05;
  AttackOptions o;
  o.method = "fgsm";
  o.epsilon = eps;
  Tensor adv = attack(m, x, y, o);
  REQUIRE(adv.dtype() == DType::F32);
  Tensor g = cross_entropy_input_gradient(m, x, {0, 3, 4});
  int moved = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double xi = x.item(i), ai = adv.item(i), gi = g.item(i);
    const double want = std::min(1.0, std::max(0.0, xi + eps * (gi > 0 ? 1 : gi < 0 ? -1 : 0)));
    CHECK(std::abs(ai - want) <= 1e-7);
    if (xi > eps && xi < 1 - eps && gi != 0) {
      CHECK(std::abs(std::abs(ai - xi) - eps) <= 1e-7);
      ++moved;
    }
  }
  CHECK(moved > 50);
  o.method = "pgd";
  o.steps = 5;
  o.step_size = 0.02;
  Tensor p = attack(m, x, y, o);
  for (int64_t i = 0; i < x.numel(); ++i) {
    CHECK(std::abs(p.item(i) - x.item(i)) <= eps + 1e-7);
    CHECK(p.item(i) >= 0.0);
    CHECK(p.item(i) <= 1.0);
  }
  // The loss rises (untargeted attack).
  auto loss = [&](const Tensor& xx) {
    Tensor f = m.predict(xx);
    double s = 0;
    for (int64_t n = 0; n < 3; ++n) {
      double z = 0;
      for (int64_t k = 0; k < 5; ++k) z += std::exp(f.item(n * 5 + k));
      s += std::log(z) - f.item(n * 5 + y.item(n));
    }
    return s;
  };
  CHECK(loss(p) > loss(x));
  CHECK(loss(adv) > loss(x));
  Tensor bad = Tensor::from_vector({3}, std::vector<int64_t>{0, 3, 5});
  CHECK_THROWS_AS(attack(m, x, bad, o), Error);
}

TEST_CASE("SmoothGrad: deterministic for a seed, batch independent, saliency at zero noise") {
  Rng rng(9);
  Model m = mlp(rng, DType::F32);
  Tensor x = uniform({3, 6}, rng, DType::F32);
  const std::vector<int64_t> t{0, 1, 2};
  std::map<std::string, std::string> o{{"samples", "300"}, {"noise-level", "0.2"}, {"seed", "5"}};
  Attribution a = run("smoothgrad", m, x, t, o);
  CHECK(bitwise_equal(a.values, run("smoothgrad", m, x, t, o).values));
  CHECK(a.seed == 5);
  std::map<std::string, std::string> o2{{"samples", "300"}, {"noise-level", "0.2"}, {"seed", "6"}};
  CHECK(!bitwise_equal(a.values, run("smoothgrad", m, x, t, o2).values));
  Tensor first = run("smoothgrad", m, x.slice_batch(0, 1).clone(), {0}, o).values;
  CHECK(bitwise_equal(first, a.values.slice_batch(0, 1).clone()));
  Tensor zero_noise = run("smoothgrad", m, x, t, {{"samples", "4"}, {"noise-level", "0"}}).values;
  CHECK(testing::max_rel_diff(zero_noise, run("saliency", m, x, t).values) < 1e-6);
}

TEST_CASE("token models: attributions at the embedding output, summed over d") {
  Rng rng(10);
  const int64_t T = 5, d = 4, V = 11;
  auto emb = std::make_shared<Embedding>("emb", V, d, DType::F64);
  emb->init(rng);
  Model m;
  m.add_input("ids");
  m.append("emb", emb);
  m.append("flat", std::make_shared<Flatten>());
  m.append("fc1", linear("fc1", T * d, 6, rng, DType::F64));
  m.append("act", std::make_shared<Tanh>());
  m.append("fc2", linear("fc2", 6, 3, rng, DType::F64));
  m.to(DType::F64);
  Tensor ids = Tensor::from_vector({2, T}, std::vector<int64_t>{1, 4, 2, 9, 10, 3, 3, 0, 7, 5});
  Point p = attribution_point(m, ids);
  CHECK(p.tokens);
  CHECK(m.value_name(p.value_id) == "emb");
  Tensor s = run("saliency", m, ids, {0, 2}).values;
  CHECK(s.shape() == Shape{2, T});
  // IG completeness at the embedding: Σ IG = f(e) − f(0).
  Tensor a = run("integrated-gradients", m, ids, {0, 2}, {{"steps", "64"}}).values;
  CHECK(a.shape() == Shape{2, T});
  Tape tape = m.forward({ids});
  Tape base = m.forward({ids}, {}, {{p.value_id, Tensor(tape.values[p.value_id].shape(), DType::F64)}});
  const Tensor& f = tape.values[m.outputs()[0]];
  const Tensor& f0 = base.values[m.outputs()[0]];
  CHECK(sample_sum(a, 0) == doctest::Approx(f.item(0) - f0.item(0)).epsilon(1e-10));
  CHECK(sample_sum(a, 1) == doctest::Approx(f.item(5) - f0.item(5)).epsilon(1e-10));
  // Occlusion of whole tokens on a linear token model equals gradient x input summed over d.
  Model lin;
  lin.add_input("ids");
  lin.append("emb", emb);
  lin.append("flat", std::make_shared<Flatten>());
  lin.append("fc", linear("fc", T * d, 3, rng, DType::F64));
  lin.to(DType::F64);
  Tensor occ = run("occlusion", lin, ids, {0, 1}, {{"window", "1"}}).values;
  REQUIRE(occ.shape() == Shape{2, T});
  CHECK(testing::max_rel_diff(occ, run("gradient-x-input", lin, ids, {0, 1}).values) < 1e-12);
  // With a LayerNorm right after the embedding, adding a constant to a token's embedding changes nothing,
  // so the saliency summed over d is identically 0 (golden README, "Token models").
  Model ln;
  ln.add_input("ids");
  ln.append("emb", emb);
  ln.append("ln", std::make_shared<LayerNorm>("ln", Shape{d}, 1e-5, true, DType::F64));
  ln.append("flat", std::make_shared<Flatten>());
  ln.append("fc", linear("fc", T * d, 3, rng, DType::F64));
  ln.to(DType::F64);
  Tensor z = run("saliency", ln, ids, {1, 1}).values;
  for (int64_t i = 0; i < z.numel(); ++i) CHECK(std::abs(z.item(i)) < 1e-12);
}

TEST_CASE("explain: bad requests throw one-line errors") {
  Rng rng(11);
  Model m = mlp(rng, DType::F32);
  Tensor x = uniform({2, 6}, rng, DType::F32);
  CHECK_THROWS_AS(resolve_targets(m, x, 3), Error);  // 3 classes: 0..2
  CHECK(resolve_targets(m, x, 2) == std::vector<int64_t>{2, 2});
  CHECK_THROWS_AS(run("saliency", m, x, {0}), Error);     // one target for two samples
  CHECK_THROWS_AS(run("grad-cam", m, x, {0, 0}), Error);  // no 4-D activation
  CHECK_THROWS_AS(run("integrated-gradients", m, x, {0, 0}, {{"steps", "0"}}), Error);
}
