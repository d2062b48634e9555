// The evaluation table: see table.h.
#include "explain/evaluate/table.h"
#include "engine/check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <set>

#include "engine/error.h"
#include "explain/evaluate/tasks.h"
#include "explain/inference_graph.h"
#include "explain/influence/influence.h"
#include "explain/registry.h"

namespace xdnn::explain {

namespace {

// The options `info` runs with: METHOD.NAME (for this method alone) before NAME (for every method that takes
// it), then its defaults; throws when a required one is missing or a value has the wrong type.
Options method_options(const MethodInfo& info, const std::map<std::string, std::string>& options) {
  std::map<std::string, std::string> given;
  for (const auto& spec : info.options)
    if (options.count(info.name + "." + spec.name))
      given[spec.name] = options.at(info.name + "." + spec.name);
    else if (options.count(spec.name))
      given[spec.name] = options.at(spec.name);
  return resolve_options(info, given);
}

}  // namespace

AttributionSource method_source(const Model& model, const Tensor& input, const std::vector<int64_t>& targets,
                                const std::string& method, const std::map<std::string, std::string>& options,
                                int64_t samples_per_pass) {
  const MethodInfo& info = find_method(method);
  ExplainRequest req;
  req.input = input;
  req.targets = targets;
  req.options = method_options(info, options);
  load_option_files(info, req.options);  // files named by options (--baseline B.npy): the method reads none
  // The method runs on the graph `xdnn explain` gives it (explain/inference_graph.h: BatchNorm folded, and
  // whatever else that file lets a method of its kind use), its re-runs on perturbed inputs too.
  auto graph = std::make_shared<const Model>(inference_graph(model, method, req.options));
  req.model = graph.get();
  AttributionSource src;
  src.name = method;
  // Passes of a few samples (run_in_chunks: the same bits as one pass for every per-sample method), so each
  // model call of the method holds about kRowsPerCall rows instead of the whole batch (a method stacks at
  // least one copy of every sample of its pass): fashion-cnn's float64 activations of 100 rows (5 MB per
  // layer) spill out of the L2 cache, those of 32 stay in it. Prediction difference without --background
  // draws its patches from the other samples of the batch, so its batch is never cut.
  const bool batch_dependent = method == "prediction-difference" && req.options.get("background", "").empty();
  const int64_t per_pass = batch_dependent ? std::max<int64_t>(input.dim(0), 1) : samples_per_pass;
  src.values = run_in_chunks(info, req, per_pass).values;  // memory flat in the number of inputs, the same bits
  // Max-sensitivity re-runs the method on `model` itself: its graph; the sanity checks on randomised
  // copies: those as they are.
  src.explain = [&info, req, per_pass, graph, original = &model](const Model& m, const Tensor& x,
                                                                 const std::vector<int64_t>& t) {
    ExplainRequest r = req;
    r.model = &m == original ? graph.get() : &m;
    r.input = x;
    r.targets = t;
    return run_in_chunks(info, r, per_pass).values;
  };
  return src;
}

std::vector<AttributionSource> method_sources(const Model& model, const Tensor& input,
                                              const std::vector<int64_t>& targets,
                                              const std::vector<std::string>& methods,
                                              const std::map<std::string, std::string>& options, bool progress) {
  for (const auto& [key, value] : options) {  // METHOD.NAME=VALUE must name a chosen method and its option
    const size_t dot = key.find('.');
    if (dot == std::string::npos) continue;
    const std::string method = key.substr(0, dot), name = key.substr(dot + 1);
    if (std::find(methods.begin(), methods.end(), method) == methods.end())
      throw Error("--option " + key + "=" + value + ": '" + method + "' is not one of the methods evaluated",
                  "METHOD.NAME=VALUE sets option NAME of METHOD alone");
    const auto& specs = find_method(method).options;
    if (std::none_of(specs.begin(), specs.end(), [&](const OptionSpec& o) { return o.name == name; }))
      throw Error("--option " + key + "=" + value + ": method " + method + " takes no option '" + name + "'");
  }
  for (const auto& m : methods) method_options(find_method(m), options);  // a missing --window: before any work
  std::vector<AttributionSource> out(methods.size());
  influence::Progress bar("attributions", static_cast<int64_t>(methods.size()), progress && !methods.empty());
  std::mutex bar_mutex;  // the bar is drawn by whichever task finishes
  run_tasks(static_cast<int64_t>(methods.size()), [&](int64_t i) {
    out[i] = method_source(model, input, targets, methods[i], options);
    std::lock_guard<std::mutex> lock(bar_mutex);
    bar.add(1);
  });
  return out;
}

std::vector<std::pair<const MetricInfo*, Options>> resolve_metrics(const std::vector<std::string>& names,
                                                                   const std::map<std::string, std::string>& given) {
  check(!names.empty(), "--metric: name at least one metric", "valid metrics: " + metric_names());
  std::vector<std::pair<const MetricInfo*, Options>> out;
  std::set<std::string> used;
  for (const auto& name : names) {
    const MetricInfo& m = find_metric(name);
    std::map<std::string, std::string> mine;
    for (const auto& spec : m.options)
      if (given.count(spec.name)) mine[spec.name] = given.at(spec.name), used.insert(spec.name);
    out.emplace_back(&m, resolve_metric_options(m, mine));
  }
  for (const auto& [name, value] : given)
    if (!used.count(name)) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      throw Error("option --" + name + " does not apply to metric " + list);
    }
  for (auto& [m, options] : out) load_option_files(m->options, options);  // --ground-truth G.npy: metrics read no files
  return out;
}

EvaluationTable evaluate_table(const MetricRequest& context, const std::vector<AttributionSource>& sources,
                               const std::vector<std::pair<const MetricInfo*, Options>>& metrics, bool progress) {
  EvaluationTable t;
  for (const auto& m : metrics) t.columns.push_back(m.first->name);
  influence::Progress bar("evaluate", static_cast<int64_t>(sources.size() * metrics.size()), progress);
  // The metrics score perturbed rows through the model as a function of its input, as `xdnn run` does.
  Model function_model;
  MetricRequest shared = context;
  if (!shared.row_scores) shared.row_scores = std::make_shared<RowScoreMemo>();
  if (context.model && !context.function_model) {
    function_model = inference_graph(*context.model, "run");
    shared.function_model = &function_model;
  }
  for (const auto& src : sources) {
    t.rows.push_back(src.name);
    t.cells.emplace_back();
    for (const auto& [metric, options] : metrics) {
      MetricRequest req = shared;
      req.attribution = src.values;
      req.options = options;
      req.explain = src.explain;
      t.cells.back().push_back(metric->run(req));
      bar.add(1);
    }
  }
  return t;
}

std::pair<double, double> summary_mean_sd(const MetricResult& r) {
  const double n = static_cast<double>(r.summary.size());
  double mean = 0.0, var = 0.0;
  for (double v : r.summary) mean += v / n;
  for (double v : r.summary) var += (v - mean) * (v - mean) / std::max(n - 1.0, 1.0);
  return {mean, std::sqrt(var)};
}

std::string EvaluationTable::html() const {
  auto escape = [](const std::string& s) {
    std::string out;
    for (char c : s) out += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
    return out;
  };
  std::string out = "<table class=\"eval\">\n<tr><th>attribution</th>";
  for (size_t j = 0; j < columns.size(); ++j)
    out += "<th>" + escape(columns[j]) + (cells.empty() ? "" : "<br><small>" + escape(cells[0][j].summary_name)) +
           (cells.empty() ? "" : "</small>") + "</th>";
  out += "</tr>\n";
  char buf[96];
  for (size_t i = 0; i < rows.size(); ++i) {
    out += "<tr><td>" + escape(rows[i]) + "</td>";
    for (const MetricResult& r : cells[i]) {
      const auto [mean, sd] = summary_mean_sd(r);
      std::snprintf(buf, sizeof buf, "%.4g &plusmn; %.3g", mean, sd);
      out += std::string("<td>") + buf + "</td>";
    }
    out += "</tr>\n";
  }
  return out + "</table>\n";
}

std::string EvaluationTable::format() const {
  size_t w0 = 11;
  for (const auto& r : rows) w0 = std::max(w0, r.size());
  std::string out;
  char buf[128];
  std::snprintf(buf, sizeof buf, "%-*s", static_cast<int>(w0), "attribution");
  out += buf;
  for (size_t j = 0; j < columns.size(); ++j) {
    const std::string head = columns[j] + (cells.empty() ? "" : " " + cells[0][j].summary_name);
    std::snprintf(buf, sizeof buf, "  %24s", head.size() > 24 ? columns[j].c_str() : head.c_str());
    out += buf;
  }
  out += "\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%-*s", static_cast<int>(w0), rows[i].c_str());
    out += buf;
    for (const MetricResult& r : cells[i]) {
      const auto [mean, sd] = summary_mean_sd(r);
      std::snprintf(buf, sizeof buf, "  %13.5g ± %-8.3g", mean, sd);
      out += buf;
    }
    out += "\n";
  }
  return out;
}

}  // namespace xdnn::explain
