// The evaluation table of `xdnn evaluate`: every attribution (read from a file, or computed by a
// registered method) scored by every chosen metric. Rows are attributions, columns metrics; each cell
// keeps the metric's full result (its array and per-sample summaries), and the table prints the mean and
// standard deviation of each summary over the samples.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "explain/evaluate/metric.h"

namespace xdnn::explain {

// One attribution to evaluate.
struct AttributionSource {
  std::string name;  // the method name, or the file name
  Tensor values;     // the attribution of the input
  // Re-runs the method (for max-sensitivity); empty for a file.
  std::function<Tensor(const Model& model, const Tensor& x, const std::vector<int64_t>& targets)> explain;
};

// Runs registered method `method` on (input, targets) with those of `options` it takes (the others are
// left to other methods, as `xdnn report --option` does); a key METHOD.NAME sets NAME for that method
// alone and wins over NAME (`--option shapley-values.feature-mask=grid:10`). It runs on the graph `xdnn
// explain` gives it (explain/inference_graph.h), and so do its re-runs on `model` (max-sensitivity; other
// models, the sanity checks' randomised copies, run as they are). The method runs on
// `samples_per_pass` samples at a time (run_in_chunks; the same bits), its re-runs too; a method whose
// result depends on the whole batch (prediction difference without --background) in one pass.
constexpr int64_t kEvaluateSamplesPerPass = 16;
AttributionSource method_source(const Model& model, const Tensor& input, const std::vector<int64_t>& targets,
                                const std::string& method, const std::map<std::string, std::string>& options,
                                int64_t samples_per_pass = kEvaluateSamplesPerPass);

// For each metric in `names`: its options, from `given` those it takes plus its defaults, and the files
// they name loaded (load_option_files: --ground-truth G.npy). Throws when a given option is taken by none of
// them, or a name is unknown.
// method_source for each of `methods`, side by side (tasks.h; the same bits as one after another), with a
// progress bar on stderr counting finished methods when `progress`. Throws before any work when a
// METHOD.NAME key names a method not in `methods` or an option that method does not take, or when a
// method's required option is missing or of the wrong type.
std::vector<AttributionSource> method_sources(const Model& model, const Tensor& input,
                                              const std::vector<int64_t>& targets,
                                              const std::vector<std::string>& methods,
                                              const std::map<std::string, std::string>& options, bool progress);

std::vector<std::pair<const MetricInfo*, Options>> resolve_metrics(const std::vector<std::string>& names,
                                                                   const std::map<std::string, std::string>& given);

struct EvaluationTable {
  std::vector<std::string> rows;                 // attribution names
  std::vector<std::string> columns;              // metric names
  std::vector<std::vector<MetricResult>> cells;  // [row][column]
  // Fixed-width text: one line per attribution, "mean ± sd" of each metric's summary over the samples.
  std::string format() const;
  // The same as an HTML <table> (the report's evaluation section).
  std::string html() const;
};

// Mean and sample standard deviation of a metric's per-sample summary.
std::pair<double, double> summary_mean_sd(const MetricResult& r);

// Scores every source with every metric (a progress bar on stderr when `progress`). `context` holds what
// every cell shares: model, input, targets, and optionally ground truth and fresh_model; the metrics'
// perturbed rows go through the model's inference graph for "run" unless context.function_model is set.
EvaluationTable evaluate_table(const MetricRequest& context, const std::vector<AttributionSource>& sources,
                               const std::vector<std::pair<const MetricInfo*, Options>>& metrics, bool progress);

}  // namespace xdnn::explain
