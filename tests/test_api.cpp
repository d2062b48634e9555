// The public API (explain/api/xdnn.h) through its own header only, as a user program sees it: results agree
// with the peer golden cases, and bad input, including mistakes in a user's CustomLayer, is an api::Error
// naming what was wrong. (tests/examples/ builds programs against the installed library.)
#include <doctest/doctest.h>

#include <unistd.h>
#include <algorithm>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>

#include "explain/api/xdnn.h"

namespace api = xdnn::api;

namespace {

const std::string golden = std::string(XDNN_TESTS_DIR) + "/golden";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const api::Error& e) {
    return e.what();
  }
  return "no error";
}

// Identity that returns a wrong shape from backward, or claims an LRP rule it does not implement.
struct Broken final : api::CustomLayer {
  std::string kind() const override { return "Broken"; }
  api::Array forward(const api::Array& x) const override { return x; }
  api::Array backward(const api::Array& x, const api::Array&, const api::Array&) const override {
    return api::Array(x.dtype(), {1});
  }
  std::vector<std::string> lrp_rules() const override { return {"pass"}; }
};

}  // namespace

TEST_CASE("api: saliency and LRP of the golden CNN agree with Captum / Zennit") {
  const api::Model model = api::Model::load(golden + "/models/cnn.onnx");
  for (const std::string name : {"explain-cnn-saliency", "explain-cnn-lrp-epsilon"}) {
    CAPTURE(name);
    const api::Array x = api::load_npy(golden + "/" + name + "/input.npy");
    const api::Array expected = api::load_npy(golden + "/" + name + "/expected.npy");
    const api::Options options =
        name == "explain-cnn-saliency" ? api::Options{} : api::Options{{"rule", "epsilon"}, {"epsilon", "0.01"}};
    const api::Array a = api::explain(model, x, name == "explain-cnn-saliency" ? "saliency" : "lrp", {}, options);
    REQUIRE(a.shape() == expected.shape());
    REQUIRE(a.dtype() == api::DType::F32);
    double err = 0, norm = 0;
    for (int64_t i = 0; i < a.size(); ++i) {
      err += std::pow(a.get(i) - expected.get(i), 2);
      norm += std::pow(expected.get(i), 2);
    }
    CHECK(std::sqrt(err / norm) < 1e-4);  // rel. L2; the cases allow 1e-4 and 1e-3
  }
}

TEST_CASE("api: targets, options and the methods list") {
  const api::Model model = api::Model::load(golden + "/models/mlp.onnx");
  const api::Array x = api::load_npy(golden + "/explain-mlp-saliency/input.npy");
  const int64_t N = x.shape()[0];
  // One target per sample equals the same single target for all; argmax equals explicit argmax targets.
  const api::Array logits = model.run(x);
  std::vector<int64_t> argmax;
  for (int64_t n = 0; n < N; ++n) {
    const int64_t K = logits.shape()[1];
    int64_t best = 0;
    for (int64_t k = 1; k < K; ++k) best = logits.get(n * K + k) > logits.get(n * K + best) ? k : best;
    argmax.push_back(best);
  }
  const api::Array by_argmax = api::explain(model, x, "saliency");
  const api::Array by_targets = api::explain(model, x, "saliency", argmax);
  for (int64_t i = 0; i < by_argmax.size(); ++i) REQUIRE(by_argmax.get(i) == by_targets.get(i));
  const api::Array t3 = api::explain(model, x, "saliency", {3});
  const api::Array t3s = api::explain(model, x, "saliency", std::vector<int64_t>(N, 3));
  for (int64_t i = 0; i < t3.size(); ++i) REQUIRE(t3.get(i) == t3s.get(i));

  CHECK(contains(error_of([&] { api::explain(model, x, "saliency", {1, 2}); }), "2 targets for"));
  CHECK(contains(error_of([&] { api::explain(model, x, "saliency", {10}); }), "out of range"));
  CHECK(contains(error_of([&] { api::explain(model, x, "integrated-gradients", {}, {{"stepz", "5"}}); }), "stepz"));
  CHECK(contains(error_of([&] { api::explain(model, x, "no-such-method"); }), "no-such-method"));
  CHECK(contains(error_of([&] { api::explain(model, x, "saliency", {}, {{"precision", "half"}}); }), "precision"));
  const auto methods = api::methods();
  CHECK(std::any_of(methods.begin(), methods.end(), [](const api::MethodInfo& m) { return m.name == "lrp"; }));
}

TEST_CASE("api: bad input is an api::Error naming it") {
  CHECK(contains(error_of([] { api::Model::load("/nonexistent/model.onnx"); }), "/nonexistent/model.onnx"));
  CHECK(contains(error_of([] { api::load_npy("/nonexistent/x.npy"); }), "/nonexistent/x.npy"));
  CHECK(contains(error_of([] { api::Array::f32({2, 2}, {1, 2, 3}); }), "3 values"));
  CHECK(contains(error_of([] { api::Array(api::DType::F32, {2}).data<int64_t>(); }), "holds float32"));
  const api::Model model = api::Model::load("fashion-mlp");
  api::Array nan(api::DType::F32, {1, 1, 28, 28});
  nan.set(5, std::nan(""));
  CHECK(contains(error_of([&] { model.run(nan); }), "element 5 is NaN"));
  CHECK(contains(error_of([&] { model.run(api::Array(api::DType::F32, {1, 3, 28, 28})); }), "input"));
  CHECK(contains(error_of([] {
                   api::influence("tracin", {"fashion-mlp"}, {}, {}, {}, {}, {{"lr", "0.1"}, {"nope", "1"}});
                 }),
                 "unknown option 'nope'"));
  CHECK(contains(error_of([] { api::influence("tracout", {"fashion-mlp"}, {}, {}, {}, {}); }), "tracout"));
  api::TrainOptions t;
  t.model = "text-lstm";
  CHECK(contains(error_of([&] { api::train(t, {}, {}, {}, {}); }), "text model"));
}

TEST_CASE("api: a CustomLayer's mistakes are caught at the layer") {
  api::Model model = api::Model::load("fashion-mlp");
  CHECK(contains(error_of([&] { model.replace_layer("relu9", std::make_shared<Broken>()); }), "no node 'relu9'"));
  model.replace_layer("relu1", std::make_shared<Broken>());
  const api::Array x(api::DType::F32, {2, 1, 28, 28});
  CHECK(model.run(x).shape() == std::vector<int64_t>{2, 10});  // forward is fine
  const std::string e = error_of([&] { api::explain(model, x, "saliency"); });
  CHECK(contains(e, "custom layer Broken (node 'relu1') backward returned float64 (1,), expected float64 (2, 64)"));
  // "pass" is claimed but relevance() is not overridden: the base class says so.
  CHECK(contains(error_of([&] { api::explain(model, x, "lrp"); }), "custom layer Broken has no LRP rule 'pass'"));
}

TEST_CASE("api: save_onnx writes what Model::load reads back") {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("xdnn_api_" + std::to_string(::getpid()) + ".onnx")).string();
  const api::Model model = api::Model::load("fashion-cnn");
  model.save_onnx(path);
  const api::Model back = api::Model::load(path);
  std::filesystem::remove(path);
  const api::LabeledArrays data = api::fashion_mnist("test", 4);
  const api::Array a = model.run(data.x), b = back.run(data.x);
  REQUIRE(a.shape() == b.shape());
  for (int64_t i = 0; i < a.size(); ++i) REQUIRE(a.get(i) == b.get(i));  // image models: bit for bit
  api::Model custom = api::Model::load("fashion-mlp");
  custom.replace_layer("relu1", std::make_shared<Broken>());
  CHECK(contains(error_of([&] { custom.save_onnx(path); }), "node 'relu1' (Broken): no ONNX export"));
}
