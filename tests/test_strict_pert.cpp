// RISE, prediction difference, erasure and attention compute through ops:: (issue 17, item 2), so they give
// the CPU's bytes on Strict (memory host code may not read) on every option path, not only the default run
// of tests/test_strict_methods.cpp: given mask files and their checks, marginal sampling from a background,
// per-channel conditionals, padded and removed tokens, the flip search, one head and one query row.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "engine/random.h"
#include "explain/registry.h"
#include "models/io/npy.h"
#include "models/model.h"
#include "models/zoo.h"
#include "tests/explain_run.h"
#include "tests/file_fixtures.h"

using namespace xdnn;

namespace {

using Opts = std::map<std::string, std::string>;

// `n` float64 values in [0, 1) from Rng(seed), shaped `shape`.
Tensor uniform(const Shape& shape, uint64_t seed) {
  Rng rng(seed);
  Tensor t(shape, DType::F64);
  for (int64_t i = 0; i < t.numel(); ++i) t.set_item(i, rng.uniform(0, 1));
  return t;
}

struct Case {
  Model model;
  Tensor input;
  std::vector<int64_t> targets;
};

Case image_case() {
  Case c{build_zoo_model("fashion-cnn", 5), uniform({2, 1, 28, 28}, 17), {3, 8}};
  c.model.to(DType::F64);
  return c;
}

Case token_case() {
  TextModelConfig cfg;
  cfg.vocab_size = 12, cfg.num_classes = 3, cfg.max_len = 6, cfg.embed_dim = 8, cfg.hidden_size = 8;
  Case c{build_text_model("text-transformer", cfg, 5),
         Tensor::from_vector({2, 6}, std::vector<int64_t>{3, 7, 1, 9, 4, 0, 5, 2, 11, 0, 0, 0}),
         {}};
  c.model.to(DType::F64);
  // The predicted classes: the flip search then has a prediction to change.
  const Tensor logits = c.model.predict(c.input);
  for (int64_t n = 0; n < 2; ++n) {
    int64_t best = 0;
    for (int64_t k = 1; k < 3; ++k)
      if (logits.item(n * 3 + k) > logits.item(n * 3 + best)) best = k;
    c.targets.push_back(best);
  }
  return c;
}

// The method's values with the model and input on `device`, copied to the CPU.
Tensor values_on(Case c, Device device, const std::string& method, const Opts& opts) {
  c.model.to(device);
  return testing::run(method, c.model, c.input.to(device), c.targets, opts).values.to(Device::CPU);
}

void check_same_bytes(const Case& c, const std::string& method, const Opts& opts) {
  const Tensor cpu = values_on(c, Device::CPU, method, opts);
  const Tensor strict = values_on(c, Device::Strict, method, opts);
  CHECK(bitwise_equal(cpu, strict));
  // Not a constant map: the option path computed something.
  const Tensor flat = cpu.to(DType::F64).reshape({cpu.numel()});
  bool varies = false;
  for (int64_t i = 1; i < flat.numel(); ++i) varies = varies || flat.item(i) != flat.item(0);
  CHECK(varies);
}

std::string saved(const std::string& name, const Tensor& t) {
  const std::string path = testing::scratch().path("strict_pert_" + name + ".npy");
  save_npy(path, t);
  return path;
}

}  // namespace

TEST_CASE("strict perturbation: rise with given masks and with another cell and keep probability") {
  const Case c = image_case();
  const std::string masks = saved("masks", uniform({6, 28, 28}, 3).to(DType::F32));
  for (const Opts& opts : {Opts{{"masks", masks}}, Opts{{"masks", "9"}, {"cell", "5"}, {"p", "0.3"}, {"seed", "2"}}}) {
    INFO(opts.at("masks"));
    check_same_bytes(c, "rise", opts);
  }
}

TEST_CASE("strict perturbation: rise names the first mask value outside [0, 1] (NaN included) on both devices") {
  const Case c = image_case();
  for (double bad : {1.5, -0.25, std::numeric_limits<double>::quiet_NaN()}) {
    Tensor m = uniform({2, 28, 28}, 4);
    m.set_item(900, bad);
    m.set_item(1200, 2.0);  // a later bad value is not the one named
    const std::string path = saved("bad_masks", m.to(DType::F32));
    for (Device device : {Device::CPU, Device::Strict}) {
      const std::string msg = testing::error_of([&] { values_on(c, device, "rise", {{"masks", path}}); });
      INFO(msg);
      CHECK(msg.find("at element 900, expected values in [0, 1]") != std::string::npos);
      CHECK(msg.find("value " + std::to_string(static_cast<double>(static_cast<float>(bad)))) != std::string::npos);
    }
  }
}

TEST_CASE("strict perturbation: prediction difference, marginal from a background and per-channel conditionals") {
  const Case c = image_case();
  const std::string background = saved("background", uniform({3, 1, 28, 28}, 9).to(DType::F32));
  const Opts small{{"window", "7"}, {"stride", "7"}, {"samples", "2"}};
  Opts marginal = small, marginal_batch = small, conditional = small;
  marginal["sampling"] = "marginal", marginal["background"] = background;
  marginal_batch["sampling"] = "marginal";
  conditional["channels"] = "each", conditional["frame"] = "1", conditional["background"] = background;
  for (const Opts& opts : {marginal, marginal_batch, conditional}) {
    INFO(opts.at("samples"), " ", opts.count("sampling") ? opts.at("sampling") : "conditional");
    check_same_bytes(c, "prediction-difference", opts);
  }
}

TEST_CASE("strict perturbation: erasure with padded and removed tokens, the flip search, attention rows") {
  const Case c = token_case();
  check_same_bytes(c, "erasure", {{"erase", "pad"}, {"pad-id", "0"}});
  check_same_bytes(c, "erasure", {{"erase", "remove"}, {"score", "prob"}});
  check_same_bytes(c, "erasure", {{"score", "logit"}});
  check_same_bytes(c, "erasure-flip", {{"erase", "pad"}, {"score", "logit"}});
  check_same_bytes(c, "attention", {{"head", "1"}, {"query", "first"}});
  check_same_bytes(c, "attention", {{"attention-layer", "0"}, {"query", "3"}});
  check_same_bytes(c, "attention-rollout", {{"query", "last"}});
}
