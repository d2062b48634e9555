// Every registered explanation method on Device::Strict (issue 17, item 4: `explain --device cuda` for
// every method). The method runs once with the model and input on the CPU and once on Strict (memory host
// code may not read, the CPU's kernels); the attributions must have the same bytes. The names come from the
// registry (explain/method.h), so a new method is tested here without being listed.
//
// Methods that do not run on Strict yet are listed in kMethodsNotYetStrict with the host access that stops
// them; each entry is checked to still fail, so the list can only shrink (delete an entry when its method
// runs).
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/random.h"
#include "explain/global/linear_probe.h"
#include "explain/global/tcav.h"
#include "explain/method.h"
#include "explain/registry.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/global_avg_pool.h"
#include "layers/linear.h"
#include "layers/relu.h"
#include "models/model.h"
#include "models/zoo.h"

using namespace xdnn;

namespace {

// Methods that do not run on Strict yet: name -> the host access that stops it (from the case below).
const std::map<std::string, std::string> kMethodsNotYetStrict = {};

// The model a method is tested on and the options that keep its run small (a few model calls).
struct MethodCase {
  std::string model = "fashion-cnn";  // a zoo name; "text-transformer" for token methods
  std::map<std::string, std::string> options;
};

const std::set<std::string> kTokenMethods = {"attention", "attention-rollout", "erasure", "erasure-flip"};

MethodCase method_case(const std::string& name) {
  MethodCase c;
  if (kTokenMethods.count(name)) c.model = "text-transformer";
  if (name == "cam") c.model = "gap-cnn";  // CAM needs global average pooling before one linear layer
  const std::map<std::string, std::map<std::string, std::string>> small = {
      {"anchors", {{"feature-mask", "grid:14"}, {"max-samples", "400"}, {"batch-size", "20"}}},
      {"expected-gradients", {{"steps", "4"}}},
      {"extremal-perturbation", {{"steps", "3"}}},
      {"feature-ablation", {{"feature-mask", "grid:7"}}},
      {"gradient-shap", {{"samples", "3"}}},
      {"integrated-gradients", {{"steps", "6"}}},
      {"kernel-shap", {{"feature-mask", "grid:7"}, {"samples", "40"}}},
      {"lime", {{"feature-mask", "grid:7"}, {"samples", "40"}}},
      {"lrp", {{"composite", "epsilon-plus"}}},
      {"meaningful-perturbation", {{"steps", "3"}}},
      {"occlusion", {{"window", "1,7,7"}, {"stride", "1,7,7"}}},
      {"perceptual-ball", {{"steps", "3"}}},
      {"prediction-difference", {{"window", "7"}, {"stride", "7"}, {"samples", "2"}}},
      {"rise", {{"masks", "20"}}},
      {"shapley-sampling", {{"feature-mask", "grid:7"}, {"samples", "2"}}},
      {"shapley-values", {{"feature-mask", "grid:14"}}},
      {"smoothgrad", {{"samples", "3"}}},
  };
  if (small.count(name)) c.options = small.at(name);
  return c;
}

// The model (float64, as the CLI's default precision) and a two-sample input for it.
struct Fixture {
  Model model;
  Tensor input;
  std::vector<int64_t> targets;
};

// Conv2d(1, 4, 3, p1), ReLU, global average pooling, Flatten, Linear(4, 10): a model CAM applies to.
Model gap_cnn() {
  Rng init(5);
  Conv2dOptions o;
  o.pad_top = o.pad_bottom = o.pad_left = o.pad_right = 1;
  auto conv = std::make_shared<Conv2d>("conv1", 1, 4, 3, 3, o, DType::F64);
  conv->init(init);
  auto fc = std::make_shared<Linear>("fc", 4, 10, true, DType::F64);
  fc->init(init);
  Model m;
  m.add_input("x");
  m.append("conv1", conv);
  m.append("relu1", std::make_shared<ReLU>());
  m.append("gap", std::make_shared<GlobalAvgPool>());
  m.append("flat", std::make_shared<Flatten>());
  m.append("fc", fc);
  return m;
}

Fixture fixture(const std::string& model_name) {
  Fixture f;
  if (model_name == "text-transformer") {
    TextModelConfig cfg;
    cfg.vocab_size = 12, cfg.num_classes = 3, cfg.max_len = 6, cfg.embed_dim = 8, cfg.hidden_size = 8;
    f.model = build_text_model(model_name, cfg, 5);
    f.input = Tensor::from_vector({2, 6}, std::vector<int64_t>{3, 7, 1, 9, 4, 0, 5, 2, 11, 0, 0, 0});
    f.targets = {2, 0};
  } else {
    f.model = model_name == "gap-cnn" ? gap_cnn() : build_zoo_model(model_name, 5);
    Rng rng(17);
    f.input = Tensor({2, 1, 28, 28}, DType::F64);
    for (int64_t i = 0; i < f.input.numel(); ++i) f.input.set_item(i, rng.uniform(0, 1));
    f.targets = {3, 8};
  }
  f.model.to(DType::F64);
  return f;
}

// The method's attribution with the model and input on `device`, copied to the CPU.
Tensor attribution_on(const explain::MethodInfo& method, Device device) {
  const MethodCase c = method_case(method.name);
  Fixture f = fixture(c.model);
  f.model.to(device);
  explain::ExplainRequest req;
  req.model = &f.model;
  req.input = f.input.to(device);
  req.targets = f.targets;
  req.options = explain::resolve_options(method, c.options);
  return method.run(req).values.to(Device::CPU);
}

// "" when the method runs on Strict and gives the CPU's bytes, else what went wrong.
std::string strict_method_result(const explain::MethodInfo& method) {
  Tensor cpu;
  try {
    cpu = attribution_on(method, Device::CPU);
  } catch (const Error& e) {
    return std::string("(fails on the CPU too: ") + e.what() + ")";
  }
  if (cpu.ndim() < 1 || cpu.dim(0) != 2 || cpu.numel() < 2)
    return "(the CPU attribution " + cpu.describe() + " does not have one row per sample)";
  try {
    const Tensor on_strict = attribution_on(method, Device::Strict);
    if (!bitwise_equal(on_strict, cpu))
      return "the attribution " + on_strict.describe() + " differs from the CPU's " + cpu.describe();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("strict methods: every registered method not on the list gives the CPU's bytes on Strict") {
  REQUIRE(explain::methods().size() >= 30);
  std::set<std::string> names;
  for (const explain::MethodInfo& method : explain::methods()) {
    names.insert(method.name);
    if (kMethodsNotYetStrict.count(method.name)) continue;
    INFO(method.name);
    CHECK(strict_method_result(method) == "");
  }
  for (const auto& [listed, why] : kMethodsNotYetStrict) {
    INFO("kMethodsNotYetStrict names a method that is not registered: ", listed);
    CHECK(names.count(listed) == 1);
  }
}

TEST_CASE("strict methods: each method on the not-yet list still fails on Strict (else remove it from the list)") {
  for (const auto& [name, why] : kMethodsNotYetStrict) {
    INFO(name, " (listed because: ", why, ")");
    const std::string result = strict_method_result(explain::find_method(name));
    CHECK_MESSAGE(result != "", name, " now gives the CPU's bytes on Strict: remove it from kMethodsNotYetStrict");
    CHECK(result.find("(fails on the CPU too") == std::string::npos);
    CHECK(result.find("(the CPU attribution") == std::string::npos);
  }
}

namespace {

// `n` float64 images (n, 1, 28, 28) with values in [lo, hi) from Rng(seed).
Tensor images(int64_t n, uint64_t seed, double lo, double hi) {
  Rng rng(seed);
  Tensor x({n, 1, 28, 28}, DType::F64);
  for (int64_t i = 0; i < x.numel(); ++i) x.set_item(i, rng.uniform(lo, hi));
  return x;
}

// TCAV (xdnn tcav) on fashion-cnn with the model and every input set on `device`.
explain::TcavResult tcav_on(Device device) {
  Model m = build_zoo_model("fashion-cnn", 5);
  m.to(DType::F64);
  m.to(device);
  explain::TcavOptions opt;
  opt.runs = 2, opt.min_examples = 4;
  return explain::tcav(m, images(6, 1, 0, 1).to(device), 3, "relu2", images(8, 2, 0, 0.4).to(device),
                       images(20, 3, 0, 1).to(device), opt);
}

// Linear probes (xdnn probe) on every layer of fashion-cnn with the model and the data on `device`.
std::vector<explain::ProbeScore> probes_on(Device device) {
  Model m = build_zoo_model("fashion-cnn", 5);
  m.to(DType::F64);
  m.to(device);
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < 24; ++i) labels.push_back(i % 3);
  explain::ProbeOptions opt;
  opt.min_steps = 10;  // a quick fit: the test compares devices, not accuracies
  return explain::probe_layers(m, images(24, 4, 0, 1).to(device), labels, {}, opt);
}

}  // namespace

TEST_CASE("strict methods: TCAV and the layer probes give the CPU's numbers on Strict") {
  const explain::TcavResult cpu = tcav_on(Device::CPU), on_strict = tcav_on(Device::Strict);
  CHECK(cpu.concept_scores.size() == 2);
  CHECK(on_strict.concept_scores == cpu.concept_scores);
  CHECK(on_strict.random_scores == cpu.random_scores);
  CHECK(on_strict.cav_accuracy == cpu.cav_accuracy);
  const std::vector<explain::ProbeScore> pc = probes_on(Device::CPU), ps = probes_on(Device::Strict);
  REQUIRE(pc.size() >= 3);
  REQUIRE(ps.size() == pc.size());
  for (size_t i = 0; i < pc.size(); ++i) {
    INFO(pc[i].layer);
    CHECK(ps[i].layer == pc[i].layer);
    CHECK(ps[i].features == pc[i].features);
    CHECK(ps[i].train_accuracy == pc[i].train_accuracy);
    CHECK(ps[i].accuracy == pc[i].accuracy);
    CHECK(ps[i].control_accuracy == pc[i].control_accuracy);
  }
}
