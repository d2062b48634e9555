// Perceptual-ball adversarial saliency (explain/perceptual_ball.cpp) by its defining properties: every
// perturbation stays inside the ball (the input radius and each constrained layer's radius, recomputed
// here), the ball binds (a looser one moves further), the target's score goes down (or up with
// --direction raise), projected steepest descent on a linear score ends at −ε w/‖w‖, the saliency is the
// per-pixel size of the change, seeded random starts reproduce across batch splits, and bad options fail
// with one line. No golden case exists for this method (the peers do not implement it).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "explain/registry.h"
#include "layers/registry.h"
#include "tests/file_fixtures.h"
#include "tests/perturbation_fixtures.h"

using namespace xdnn;
using namespace xdnn::explain;
using testing::error_of;

namespace {

Attribution run(const Model& m, const Tensor& x, const std::vector<int64_t>& t,
                std::map<std::string, std::string> opts) {
  return testing::run("perceptual-ball", m, x, t, std::move(opts));
}

double row_norm(const Tensor& v, int64_t n) {
  const int64_t per = v.numel() / v.dim(0);
  double s = 0;
  for (int64_t i = 0; i < per; ++i) s += v.item(n * per + i) * v.item(n * per + i);
  return std::sqrt(s);
}

double target_logit(const Model& m, const Tensor& x, int64_t n, int64_t k) {
  const Tensor y = m.predict(x);
  return y.item(n * y.dim(1) + k);
}

}  // namespace

TEST_CASE("perceptual ball: the perturbation stays inside the ball, the ball binds, the target goes down") {
  Rng rng(12);
  const Model m = testing::mlp(rng, 6, 10, 3);  // x -> fc1 -> relu -> fc2
  const Tensor x = random_tensor({4, 6}, rng, -1, 1).to(DType::F64);
  const std::vector<int64_t> t{0, 1, 2, 0};
  const std::map<std::string, std::string> opts{
      {"radius", "0.1"}, {"input-radius", "0.8"}, {"steps", "25"}, {"step-size", "0.1"}, {"output", "perturbation"}};
  const Tensor d = run(m, x, t, opts).values;
  auto loose_opts = opts;
  loose_opts["radius"] = "1e9";
  const Tensor loose = run(m, x, t, loose_opts).values;
  const int relu = m.value_id("relu");
  const Tensor a0 = m.forward({x}).values.at(relu);
  const Tensor a1 = m.forward({ops::add(x, d)}).values.at(relu),
               a_loose = m.forward({ops::add(x, loose)}).values.at(relu);
  int binding = 0;
  for (int64_t n = 0; n < 4; ++n) {
    CAPTURE(n);
    CHECK(row_norm(d, n) <= 0.8 * (1 + 1e-12));
    const double r = 0.1 * row_norm(a0, n);
    CHECK(row_norm(ops::sub(a1, a0), n) <= r);
    if (row_norm(ops::sub(a_loose, a0), n) > r) ++binding;  // the unconstrained attack leaves the ball
    CHECK(row_norm(loose, n) == doctest::Approx(0.8).epsilon(1e-9));
    CHECK(target_logit(m, ops::add(x, d), n, t[n]) < target_logit(m, x, n, t[n]));
  }
  CHECK(binding >= 2);
  // --direction raise: the target goes up, inside the same ball.
  auto raise = opts;
  raise["direction"] = "raise";
  const Tensor up = run(m, x, t, raise).values;
  const Tensor a_up = m.forward({ops::add(x, up)}).values.at(relu);
  for (int64_t n = 0; n < 4; ++n) {
    CHECK(target_logit(m, ops::add(x, up), n, t[n]) > target_logit(m, x, n, t[n]));
    CHECK(row_norm(ops::sub(a_up, a0), n) <= 0.1 * row_norm(a0, n));
  }
}

TEST_CASE("perceptual ball: on a linear score PGD ends at -eps w/|w|; saliency = sqrt(mean_c d^2)") {
  const std::vector<double> w{1, -2, 0.5, 3, 0, -1, 2, 1, -0.5, 1.5, 0.25, -3, 1, 1, -1, 2, 0.5, -2};  // (2, 3, 3)
  const Model m = testing::linear_model(w, 0.3);  // no ReLU: the ball is the input ball alone
  Rng rng(2);
  const Tensor x = random_tensor({2, 2, 3, 3}, rng, 0, 1).to(DType::F64);
  const std::vector<int64_t> t{0, 0};
  const std::map<std::string, std::string> opts{{"input-radius", "0.5"}, {"step-size", "0.2"}, {"steps", "5"}};
  auto popts = opts;
  popts["output"] = "perturbation";
  const Tensor d = run(m, x, t, popts).values;
  double wn = 0;
  for (double v : w) wn += v * v;
  wn = std::sqrt(wn);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t i = 0; i < 18; ++i) CHECK(d.item(n * 18 + i) == doctest::Approx(-0.5 * w[i] / wn).epsilon(1e-12));
  const Tensor s = run(m, x, t, opts).values;
  REQUIRE(s.shape() == Shape{2, 1, 3, 3});
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t i = 0; i < 9; ++i) {
      const double a = d.item(n * 18 + i), b = d.item(n * 18 + 9 + i);
      CHECK(s.item(n * 9 + i) == doctest::Approx(std::sqrt((a * a + b * b) / 2)).epsilon(1e-12));
    }
}

TEST_CASE("perceptual ball: seeded random starts reproduce, whatever the batch split and thread count") {
  Rng rng(5);
  const Model m = testing::mlp(rng, 5, 8, 2);
  const Tensor x = random_tensor({3, 5}, rng, -1, 1).to(DType::F64);
  const std::map<std::string, std::string> opts{
      {"init", "0.5"}, {"seed", "7"}, {"steps", "4"}, {"radius", "0.2"}, {"output", "perturbation"}};
  const Tensor a = run(m, x, {0, 1, 0}, opts).values, b = run(m, x, {0, 1, 0}, opts).values;
  ExplainRequest req;
  req.model = &m;
  req.input = x;
  req.targets = {0, 1, 0};
  req.options = resolve_options(find_method("perceptual-ball"), opts);
  const Tensor c = run_in_chunks(find_method("perceptual-ball"), req, 1).values;
  const int saved_threads = num_threads();
  set_num_threads(saved_threads == 1 ? 2 : 1);  // the other thread count
  const Tensor e = run(m, x, {0, 1, 0}, opts).values;
  set_num_threads(saved_threads);
  const Tensor o = run(m, x, {0, 1, 0},
                       {{"init", "0.5"}, {"seed", "8"}, {"steps", "4"}, {"radius", "0.2"}, {"output", "perturbation"}})
                       .values;
  bool differs = false;
  for (int64_t i = 0; i < a.numel(); ++i) {
    CHECK(a.item(i) == b.item(i));
    CHECK(a.item(i) == c.item(i));
    CHECK(a.item(i) == e.item(i));
    differs = differs || a.item(i) != o.item(i);
  }
  CHECK(differs);
}

TEST_CASE("perceptual ball: on Strict the CPU's bytes (random start, ball layers, blurred saliency, |d|)") {
  auto on = [](Device device, bool image, std::map<std::string, std::string> opts) {
    Rng rng(5);
    const std::vector<double> w{1, -2, 0.5, 3, 0, -1, 2, 1, -0.5, 1.5, 0.25, -3, 1, 1, -1, 2, 0.5, -2};
    Model m = image ? testing::linear_model(w, 0.3) : testing::mlp(rng, 5, 8, 2);
    const Tensor x = image ? random_tensor({2, 2, 3, 3}, rng, 0, 1).to(DType::F64)
                           : random_tensor({3, 5}, rng, -1, 1).to(DType::F64);
    m.to(device);
    return run(m, x.to(device), std::vector<int64_t>(x.dim(0), 0), opts).values.to(Device::CPU);
  };
  const std::vector<std::pair<bool, std::map<std::string, std::string>>> cases = {
      {false, {{"init", "0.5"}, {"seed", "7"}, {"steps", "4"}, {"radius", "0.2"}, {"output", "perturbation"}}},
      {false, {{"steps", "3"}, {"radius", "0.05"}, {"direction", "raise"}}},
      {true, {{"steps", "3"}, {"input-radius", "0.5"}, {"step-size", "0.2"}, {"sigma", "1"}}},
  };
  for (const auto& [image, opts] : cases) {
    CAPTURE(image);
    const Tensor cpu = on(Device::CPU, image, opts), strict = on(Device::Strict, image, opts);
    CHECK(bitwise_equal(cpu, strict));
    double largest = 0;  // the perturbation moved (a run that did nothing would compare equal too)
    for (int64_t i = 0; i < cpu.numel(); ++i) largest = std::max(largest, std::abs(cpu.item(i)));
    CHECK(largest > 0);
  }
}

TEST_CASE("perceptual ball: bad options fail with one line before any step") {
  Rng rng(1);
  const Model m = testing::mlp(rng, 4, 5, 2);
  const Tensor x = random_tensor({1, 4}, rng, 0, 1).to(DType::F64);
  const auto fails = [&](std::map<std::string, std::string> opts, const std::string& what) {
    const std::string msg = error_of([&] { run(m, x, {0}, opts); });
    CAPTURE(msg);
    CHECK(msg.find(what) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  };
  fails({{"layers", "relu,nowhere"}}, "--layers nowhere");
  fails({{"layers", "relu,"}}, "--layers");
  fails({{"steps", "0"}}, "--steps 0");
  fails({{"steps", "10001"}}, "--steps 10001");
  fails({{"radius", "-1"}}, "--radius");
  fails({{"input-radius", "0"}}, "--input-radius");
  fails({{"step-size", "0"}}, "--step-size");
  fails({{"direction", "sideways"}}, "--direction");
  fails({{"init", "2"}}, "--init");
  fails({{"output", "mask"}}, "--output");
}
