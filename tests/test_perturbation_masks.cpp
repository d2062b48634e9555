// Property tests of the mask-optimisation explainers (explain/mask_perturbation.h): meaningful
// perturbation's deletion and preservation games and extremal perturbations find the one region a model
// looks at; the Gaussian blur keeps constants and mass; bad options fail with one line.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "explain/mask_perturbation.h"
#include "explain/registry.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/relu.h"
#include "models/model.h"
#include "tests/explain_run.h"

using namespace xdnn;
using namespace xdnn::explain;

namespace {

// (N, 1, 16, 16) -> the sum of the pixels in rows 2..5, columns 9..12, minus 2: a model that looks at one
// 4x4 region only. The tests use a full-resolution mask (--mask-scale 1), so the region is 16 mask cells.
Model region_model() {
  Model m;
  m.add_input("x");
  auto fc = std::make_shared<Linear>("fc", 256, 2, true, DType::F64);
  for (int r = 2; r <= 5; ++r)
    for (int c = 9; c <= 12; ++c) fc->params()[0]->value.set_item(r * 16 + c, 1.0);
  fc->params()[1]->value.set_item(0, -2.0);  // logit 0 = region sum − 2, logit 1 = 0
  m.append("flat", std::make_shared<Flatten>());
  m.append("fc", fc);
  m.to(DType::F64);
  return m;
}

bool in_region(int64_t i) { return i / 16 >= 2 && i / 16 <= 5 && i % 16 >= 9 && i % 16 <= 12; }

// Every sample explained for class 0.
Attribution run(const std::string& method, const Model& m, const Tensor& x, std::map<std::string, std::string> opts) {
  return testing::run(method, m, x, std::vector<int64_t>(x.dim(0), 0), std::move(opts));
}

// Mean of the map inside the region and outside it, away from the region's border (two pixels).
std::pair<double, double> inside_outside(const Tensor& a) {
  double in = 0, out = 0;
  int n_in = 0, n_out = 0;
  for (int64_t i = 0; i < 256; ++i) {
    const int64_t r = i / 16, c = i % 16;
    if (in_region(i)) in += a.item(i), ++n_in;
    if (r >= 8 || c <= 6) out += a.item(i), ++n_out;
  }
  return {in / n_in, out / n_out};
}

// (N, 2, 8, 8) -> Flatten, Linear(128, 6), ReLU, Linear(6, 3), seeded: a two-channel image model whose input
// gradient depends on the input (the blend's channel sum and the blur see both channels).
Model two_channel_model() {
  Rng init(11);
  auto fc1 = std::make_shared<Linear>("fc1", 128, 6, true, DType::F64);
  auto fc2 = std::make_shared<Linear>("fc2", 6, 3, true, DType::F64);
  fc1->init(init);
  fc2->init(init);
  Model m;
  m.add_input("x");
  m.append("flat", std::make_shared<Flatten>());
  m.append("fc1", fc1);
  m.append("relu", std::make_shared<ReLU>());
  m.append("fc2", fc2);
  m.to(DType::F64);
  return m;
}

}  // namespace

TEST_CASE("mask perturbation on Strict gives the CPU's bytes for every perturbation and game") {
  Rng rng(3);
  Tensor x({2, 2, 8, 8}, DType::F64);
  for (int64_t i = 0; i < x.numel(); ++i) x.set_item(i, rng.uniform(0, 1));
  const std::vector<std::pair<std::string, std::map<std::string, std::string>>> cases = {
      {"meaningful-perturbation", {{"game", "deletion"}, {"perturbation", "blur"}, {"sigma", "1.5"}, {"l1", "0"}}},
      {"meaningful-perturbation", {{"game", "preservation"}, {"perturbation", "noise"}, {"sigma", "0.2"}, {"l1", "0"}}},
      {"meaningful-perturbation",
       {{"game", "deletion"}, {"perturbation", "constant"}, {"baseline", "0.25"}, {"l1", "0"}}},
      {"extremal-perturbation", {{"area", "0.25"}, {"sigma", "1"}}},
  };
  for (const auto& [method, opts] : cases) {
    auto all = opts;
    all.insert({{"steps", "6"}, {"lr", "0.03"}, {"mask-scale", "3"}, {"score", "logit"}});
    CAPTURE(method);
    CAPTURE(opts.begin()->second);
    Tensor on_cpu, on_strict;
    for (Device device : {Device::CPU, Device::Strict}) {
      Model m = two_channel_model();
      m.to(device);
      const Tensor a = testing::run(method, m, x.to(device), {0, 2}, all).values.to(Device::CPU);
      (device == Device::CPU ? on_cpu : on_strict) = a;
    }
    REQUIRE(on_cpu.shape() == Shape{2, 1, 8, 8});
    CHECK(bitwise_equal(on_cpu, on_strict));
    double lo = 1, hi = 0;  // the map is not flat (a run that did nothing would compare equal too)
    for (int64_t i = 0; i < on_cpu.numel(); ++i) lo = std::min(lo, on_cpu.item(i)), hi = std::max(hi, on_cpu.item(i));
    CHECK(hi > lo);
  }
}

TEST_CASE("meaningful perturbation and extremal perturbations find the region the model reads") {
  const Model m = region_model();
  const Tensor x = Tensor::full({1, 1, 16, 16}, 1.0, DType::F64);
  const std::map<std::string, std::string> common{
      {"perturbation", "constant"}, {"score", "logit"}, {"steps", "150"}, {"mask-scale", "1"}};
  auto with = [&](std::map<std::string, std::string> o) {
    o.insert(common.begin(), common.end());
    return o;
  };
  const Attribution del = run("meaningful-perturbation", m, x, with({{"game", "deletion"}}));
  const Attribution pre = run("meaningful-perturbation", m, x, with({{"game", "preservation"}}));
  const Attribution ext = run("extremal-perturbation", m, x, with({{"area", "0.0625"}}));
  for (const Attribution* a : {&del, &pre, &ext}) {
    CAPTURE(a->method);
    REQUIRE(a->values.shape() == Shape{1, 1, 16, 16});
    const auto [in, out] = inside_outside(a->values);
    MESSAGE(a->method << " " << a->parameters.at("mask") << ": mean inside " << in << ", outside " << out);
    CHECK(in > 0.8);
    CHECK(out < 0.2);
    for (int64_t i = 0; i < 256; ++i) CHECK((a->values.item(i) >= 0.0 && a->values.item(i) <= 1.0));
  }
  // Deterministic: the same request gives the same bits.
  const Attribution again = run("meaningful-perturbation", m, x, with({{"game", "deletion"}}));
  for (int64_t i = 0; i < 256; ++i) CHECK(again.values.item(i) == del.values.item(i));
}

TEST_CASE("Gaussian blur keeps a constant image and the mass of an impulse") {
  Tensor c = Tensor::full({1, 2, 9, 9}, 0.7, DType::F64);
  const Tensor bc = gaussian_blur(c, 1.5);
  for (int64_t i = 0; i < bc.numel(); ++i) CHECK(bc.item(i) == doctest::Approx(0.7).epsilon(1e-12));
  Tensor d({1, 1, 21, 21}, DType::F64);
  d.set_item(10 * 21 + 10, 1.0);
  const Tensor bd = gaussian_blur(d, 2.0);
  double mass = 0;
  for (int64_t i = 0; i < bd.numel(); ++i) mass += bd.item(i);
  CHECK(mass == doctest::Approx(1.0).epsilon(1e-12));
  CHECK(bd.item(10 * 21 + 10) > bd.item(10 * 21 + 12));
}

TEST_CASE("mask perturbation: bad options fail with one line naming the option") {
  const Model m = region_model();
  const Tensor x = Tensor::full({1, 1, 16, 16}, 1.0, DType::F64);
  auto message = [&](const std::string& method, std::map<std::string, std::string> o) {
    try {
      run(method, m, x, o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(message("meaningful-perturbation", {{"game", "insertion"}}).find("--game") != std::string::npos);
  CHECK(message("meaningful-perturbation", {{"perturbation", "zero"}}).find("--perturbation") != std::string::npos);
  CHECK(message("meaningful-perturbation", {{"steps", "0"}}).find("--steps") != std::string::npos);
  CHECK(message("meaningful-perturbation", {{"lr", "-1"}}).find("--lr") != std::string::npos);
  CHECK(message("extremal-perturbation", {{"area", "1.5"}}).find("--area") != std::string::npos);
  CHECK(message("extremal-perturbation", {{"mask-scale", "0"}}).find("--mask-scale") != std::string::npos);
  const Tensor flat = Tensor::full({1, 256}, 1.0, DType::F64);
  ExplainRequest req;
  req.model = &m;
  req.input = flat;
  req.targets = {0};
  req.options = resolve_options(find_method("meaningful-perturbation"), {});
  CHECK_THROWS_AS(find_method("meaningful-perturbation").run(req), Error);
}
