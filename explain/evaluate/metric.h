// Evaluation metrics for attributions ("which explanation can you trust?"): one metric per file in
// explain/evaluate/, registered by name like the explanation methods (explain/method.h). The CLI
// (`xdnn evaluate`) finds metrics only through this registry.
//
// A metric reads a model, an input batch, one attribution per sample and the per-sample targets, and
// returns an array (its exact output, e.g. the deletion curve (N, steps + 1)) plus one summary number
// per sample (e.g. the area under that curve) for tables.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "explain/method.h"
#include "models/model.h"

namespace xdnn::explain {

// Scores of perturbed rows that depend on the input, the targets, the scoring model and a metric's options
// but not on the attribution (faithfulness correlation draws its subsets without looking at it): the same
// call gives the same bits, so a table makes it once and its other rows read it by key.
struct RowScoreMemo {
  std::mutex mutex;
  std::map<std::string, std::vector<double>> scores;
  // The scores under `key`, computed by `compute` the first time.
  const std::vector<double>& get(const std::string& key, const std::function<std::vector<double>()>& compute) {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = scores.find(key);
    if (it == scores.end()) it = scores.emplace(key, compute()).first;
    return it->second;
  }
};

struct MetricRequest {
  const Model* model = nullptr;
  Tensor input;                  // (N, ...) float, in the model's dtype
  Tensor attribution;            // the input's shape, or (N, 1, H, W) for an (N, C, H, W) input (per pixel)
  std::vector<int64_t> targets;  // one class per sample (filled by the caller: --target or argmax)
  Options options;               // the metric's options, defaults filled in (resolve_metric_options)
  Tensor ground_truth;           // optional: where the evidence is (ground_truth.h); else --ground-truth
  // The explanation method that produced `attribution`, for metrics that explain perturbed inputs
  // (max-sensitivity) or perturbed models (sanity checks): the attribution of `x` (R, ...) under `model`
  // for one class per row, in the attribution's layout. Empty when the attribution was read from a file.
  std::function<Tensor(const Model& model, const Tensor& x, const std::vector<int64_t>& targets)> explain;
  // A fresh copy of the model, for metrics that change its parameters (sanity checks). Optional.
  std::function<Model()> fresh_model;
  // `model` as a function of its input, for the perturbed rows the metrics score (curves, faithfulness,
  // infidelity): its inference graph (explain/inference_graph.h; evaluate_table sets it). `model` when null.
  const Model* function_model = nullptr;
  const Model& scoring_model() const { return function_model ? *function_model : *model; }
  // Attribution-independent row scores shared by the rows of one table (evaluate_table sets it); null:
  // every metric computes its own.
  std::shared_ptr<RowScoreMemo> row_scores;
};

struct MetricResult {
  Tensor values;                // float64; the metric's array, e.g. curves (N, steps + 1)
  std::vector<double> summary;  // one number per sample, e.g. the AUC of its curve
  std::string summary_name;     // what `summary` is, e.g. "AUC"
};

struct MetricInfo {
  std::string name;         // "deletion"
  std::string description;  // one line, for --help
  std::vector<OptionSpec> options;
  std::function<MetricResult(const MetricRequest&)> run;
};

void register_metric(MetricInfo info);
const std::vector<MetricInfo>& metrics();
// Throws an Error listing the registered names when `name` is unknown.
const MetricInfo& find_metric(const std::string& name);
// Comma-separated names of the registered metrics.
std::string metric_names();
// Every option of every registered metric, each name once, sorted (what the CLI declares).
std::vector<OptionSpec> all_metric_options();
// The options `metric` runs with: its defaults, overridden by `given`. Throws naming the option when
// `given` holds an option this metric does not take.
Options resolve_metric_options(const MetricInfo& metric, const std::map<std::string, std::string>& given);

struct MetricRegistration {
  explicit MetricRegistration(MetricInfo info) { register_metric(std::move(info)); }
};

}  // namespace xdnn::explain
