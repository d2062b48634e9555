// Data-set-sized explanation runs go through the methods in chunks (explain/registry.h run_in_chunks;
// `xdnn explain`, `xdnn evaluate --methods`, `xdnn report`). Chunking must not change a single bit: the
// methods that draw random numbers per sample (SmoothGrad's per-sample streams, GradientSHAP's and the
// noise perturbation's one stream over the batch) start a chunk at ExplainRequest::first_sample, and the
// methods whose draws are shared by all samples (KernelSHAP, LIME, Shapley sampling, RISE) draw the same
// ones in every chunk. Each case also checks that a chunk run as if it were a batch of its own
// (first_sample 0) does draw other numbers, so the bit-identity is not vacuous.
#include <doctest/doctest.h>

#include <cstdlib>
#include <memory>

#include "engine/ops.h"
#include "engine/random.h"
#include "explain/evaluate/metric.h"
#include "explain/registry.h"
#include "explain/targets.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/registry.h"
#include "layers/relu.h"
#include "models/model.h"

using namespace xdnn;
using namespace xdnn::explain;

namespace {

// x (N, 1, 6, 6) -> Conv(1->2, 3x3, pad 1) -> ReLU -> Flatten -> Linear(72, 3), float64.
Model small_cnn() {
  Rng rng(21);
  Model m;
  m.add_input("x");
  auto conv = std::make_shared<Conv2d>("conv", 1, 2, 3, 3, Conv2dOptions::same(1, 1), DType::F64);
  conv->init(rng);
  auto fc = std::make_shared<Linear>("fc", 72, 3, true, DType::F64);
  fc->init(rng);
  m.append("conv", conv);
  m.append("relu", std::make_shared<ReLU>());
  m.append("flat", std::make_shared<Flatten>());
  m.append("fc", fc);
  m.to(DType::F64);
  return m;
}

ExplainRequest request(const Model& m, const Tensor& x, const std::string& method,
                       const std::map<std::string, std::string>& options) {
  ExplainRequest req;
  req.model = &m;
  req.input = x;
  req.targets = resolve_targets(m, x, -1);
  req.options = resolve_options(find_method(method), options);
  load_option_files(find_method(method), req.options);
  return req;
}

// Rows [n0, n1) of the request, as a batch of their own (first_sample 0).
ExplainRequest rows(const ExplainRequest& req, int64_t n0, int64_t n1) {
  ExplainRequest part = req;
  part.input = req.input.slice_batch(n0, n1).clone();
  part.targets.assign(req.targets.begin() + n0, req.targets.begin() + n1);
  return part;
}

}  // namespace

TEST_CASE("run_in_chunks: bit-identical to one pass for every stochastic method") {
  const Model m = small_cnn();
  Rng rng(4);
  const Tensor x = random_tensor({5, 1, 6, 6}, rng, 0.0, 1.0).to(DType::F64);
  struct Case {
    std::string method;
    std::map<std::string, std::string> options;
    bool per_sample_draws;  // the draws depend on the sample's index
  };
  const std::vector<Case> cases = {
      {"smoothgrad", {{"samples", "3"}, {"seed", "7"}}, true},
      {"gradient-shap", {{"samples", "3"}, {"stdevs", "0.1"}, {"seed", "7"}}, true},
      {"gradient-shap", {{"samples", "2"}, {"seed", "3"}}, true},  // no noise: baseline index and α only
      {"meaningful-perturbation",
       {{"perturbation", "noise"},
        {"sigma", "0.3"},
        {"l1", "0"},
        {"tv", "0"},
        {"mask-scale", "1"},
        {"steps", "4"},
        {"seed", "7"}},
       true},
      {"kernel-shap", {{"samples", "6"}, {"feature-mask", "grid:3"}, {"seed", "7"}}, false},
      {"shapley-sampling", {{"samples", "2"}, {"feature-mask", "grid:3"}, {"seed", "7"}}, false},
      {"lime", {{"samples", "8"}, {"feature-mask", "grid:3"}, {"seed", "7"}}, false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.method);
    const MethodInfo& method = find_method(c.method);
    const ExplainRequest req = request(m, x, c.method, c.options);
    const Tensor whole = method.run(req).values;
    for (int64_t per_pass : {1, 2, 3}) {
      CAPTURE(per_pass);
      CHECK(bitwise_equal(run_in_chunks(method, req, per_pass).values, whole));
    }
    // Rows 2..4 alone, numbered from 0: a method whose draws depend on the index draws other numbers.
    const Tensor alone = method.run(rows(req, 2, 5)).values;
    CHECK(bitwise_equal(alone, whole.slice_batch(2, 5).clone()) == !c.per_sample_draws);
  }
}

TEST_CASE("run_in_chunks: bad chunk sizes and per-sample file options") {
  const Model m = small_cnn();
  Rng rng(5);
  const Tensor x = random_tensor({3, 1, 6, 6}, rng, 0.0, 1.0).to(DType::F64);
  const ExplainRequest req = request(m, x, "saliency", {});
  CHECK_THROWS_AS(run_in_chunks(find_method("saliency"), req, 0), Error);
  CHECK(bitwise_equal(run_in_chunks(find_method("saliency"), req, 1).values, find_method("saliency").run(req).values));

  // A per-sample --baseline (the input's full shape) reaches each chunk as that chunk's rows; a baseline of
  // one sample's shape is shared. Each row of the baseline differs, so a chunk given the wrong rows (or
  // refused, as before: "expected shape (2, ...)") would show.
  for (const std::string method : {"integrated-gradients", "deeplift", "occlusion", "feature-ablation"}) {
    CAPTURE(method);
    const Tensor per_sample = random_tensor({3, 1, 6, 6}, rng, 0.0, 1.0).to(DType::F64);
    for (const Tensor& b : {per_sample, per_sample.slice_batch(1, 2).reshape({1, 6, 6}).clone()}) {
      std::map<std::string, std::string> options;
      if (method == "occlusion") options["window"] = "1,2,2";
      if (method == "feature-ablation") options["feature-mask"] = "grid:3";
      ExplainRequest r = request(m, x, method, options);
      r.options.values["baseline"] = "b.npy";  // as if loaded from a file by the caller
      r.options.arrays["baseline"] = b;
      CHECK(bitwise_equal(run_in_chunks(find_method(method), r, 2).values, find_method(method).run(r).values));
    }
  }
}

TEST_CASE("options: required ones and declared types fail when resolved, before any work") {
  const MetricInfo& deletion = find_metric("deletion");
  CHECK_THROWS_WITH_AS(resolve_metric_options(deletion, {{"steps", "4"}}), "--score is required by metric 'deletion'",
                       Error);
  CHECK_THROWS_WITH_AS(resolve_metric_options(deletion, {{"score", "logit"}}),
                       "--steps is required by metric 'deletion'", Error);
  CHECK_THROWS_WITH_AS(resolve_metric_options(deletion, {{"score", "logits"}, {"steps", "4"}}),
                       "option --score 'logits': expected one of logit,prob,log-prob", Error);
  CHECK_THROWS_WITH_AS(resolve_metric_options(deletion, {{"score", "prob"}, {"steps", "4.5"}}),
                       "option --steps: expected an integer, got '4.5'", Error);
  CHECK_THROWS_WITH_AS(resolve_metric_options(deletion, {{"score", "prob"}, {"steps", "4"}, {"baseline", "nan"}}),
                       "option --baseline: expected a finite number, got 'nan'", Error);
  CHECK(resolve_metric_options(deletion, {{"score", "prob"}, {"steps", "4"}}).get("baseline", "") == "0");
  CHECK_THROWS_WITH_AS(resolve_options(find_method("occlusion"), {}), "--window is required by method 'occlusion'",
                       Error);
  // Every declared required option has no default (a default would make it never missing).
  for (const auto& m : methods())
    for (const auto& spec : m.options) CHECK_MESSAGE(!(spec.required && !spec.default_value.empty()), spec.name);
  for (const auto& m : metrics())
    for (const auto& spec : m.options) CHECK_MESSAGE(!(spec.required && !spec.default_value.empty()), spec.name);
}

TEST_CASE("resolve_targets: the argmax over 256-row passes equals the one of each row alone") {
  const Model m = small_cnn();
  Rng rng(6);
  const Tensor x = random_tensor({600, 1, 6, 6}, rng, 0.0, 1.0).to(DType::F64);
  const std::vector<int64_t> t = resolve_targets(m, x, -1);
  REQUIRE(t.size() == 600);
  const std::vector<int64_t> tail = resolve_targets(m, x.slice_batch(590, 600).clone(), -1);
  CHECK(std::vector<int64_t>(t.begin() + 590, t.end()) == tail);
  const Tensor logits = m.predict(x);
  CHECK(argmax_rows(logits) == t);
  CHECK(resolve_targets(m, x, 2) == std::vector<int64_t>(600, 2));
  CHECK_THROWS_AS(resolve_targets(m, x, 3), Error);
}

TEST_CASE("every method and metric option shows a value type in --help, not a bare TEXT") {
  auto typed = [](const OptionSpec& spec) {
    if (!spec.type.empty() || is_flag(spec)) return true;
    char* end = nullptr;
    (void)std::strtod(spec.default_value.c_str(), &end);  // a numeric default: INT or FLOAT
    return !spec.default_value.empty() && end == spec.default_value.c_str() + spec.default_value.size();
  };
  for (const auto& m : methods())
    for (const auto& spec : m.options) {
      CAPTURE(m.name);
      CAPTURE(spec.name);
      CHECK(typed(spec));
    }
  for (const auto& m : metrics())
    for (const auto& spec : m.options) {
      CAPTURE(m.name);
      CAPTURE(spec.name);
      CHECK(typed(spec));
    }
}
