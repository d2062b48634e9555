// The `tcav` section of the global report (explain/global/section.h): TCAV (Kim et al. 2018, tcav.h) of one
// concept for one class at one layer: the scores of the concept's CAVs beside the random CAVs', the t-test,
// and a plot of the scores per run.
#include <cstdio>

#include "engine/check.h"
#include "engine/error.h"
#include "explain/evaluate/plot.h"
#include "explain/global/section.h"
#include "explain/global/tcav.h"
#include "explain/html.h"

namespace xdnn::explain {

namespace {

std::string number(const char* format, double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// The rows of the report's data that belong to `target`: by label when the data have labels, else by the
// model's prediction.
Tensor class_rows(const GlobalContext& c, int64_t target) {
  std::vector<int64_t> rows;
  if (c.labels.defined()) {
    check(c.labels.numel() == c.data.dim(0), "tcav section: expected one label per sample, got " + c.labels.describe());
    for (int64_t i = 0; i < c.labels.numel(); ++i)
      if (c.labels.item(i) == static_cast<double>(target)) rows.push_back(i);
  } else {
    const Tensor logits = c.model->predict(c.data);
    const int64_t K = logits.dim(1);
    for (int64_t i = 0; i < logits.dim(0); ++i) {
      int64_t best = 0;
      for (int64_t k = 1; k < K; ++k)
        if (logits.item(i * K + k) > logits.item(i * K + best)) best = k;
      if (best == target) rows.push_back(i);
    }
  }
  if (rows.empty()) throw Error("tcav section: no sample of class " + std::to_string(target) + " in the data");
  Shape shape = c.data.shape();
  shape[0] = static_cast<int64_t>(rows.size());
  Tensor out = Tensor::empty(shape, c.data.dtype());
  for (size_t i = 0; i < rows.size(); ++i)
    out.slice_batch(static_cast<int64_t>(i), static_cast<int64_t>(i) + 1)
        .copy_from(c.data.slice_batch(rows[i], rows[i] + 1));
  return out;
}

Tensor examples(const GlobalContext& c, const std::string& option) {
  const Tensor& a = c.options.array(option);
  if (a.ndim() < 2)
    throw Error("tcav section: --global-option " + option + ": expected a batch (N, ...), got " + a.describe());
  return a.is_float() ? a.to(DType::F32).to(c.model->dtype()) : a;
}

std::string render_tcav(const GlobalContext& c) {
  check(c.data.defined(), "tcav section: no data");
  const std::string layer = c.options.get("layer", "");
  const int64_t target = c.options.get_int("class", 0);
  c.model->value_id(layer);  // an unknown layer fails before any work
  TcavOptions opt;
  opt.runs = c.options.get_int("runs", opt.runs);
  opt.seed = static_cast<uint64_t>(c.options.get_int("seed", 0));
  check(opt.runs >= 2 && opt.runs <= 1000, "tcav section: runs must be in 2..1000");
  const Tensor inputs = class_rows(c, target);
  const TcavResult r = tcav(*c.model, inputs, target, layer, examples(c, "concept"), examples(c, "random"), opt);
  double acc = 0.0;
  for (double v : r.cav_accuracy) acc += v / static_cast<double>(r.cav_accuracy.size());
  const std::string class_name =
      target < static_cast<int64_t>(c.class_names.size()) ? c.class_names[target] : std::to_string(target);
  std::string html =
      html_table({"class", "layer", "inputs", "concept examples", "TCAV score", "random CAVs", "t", "p", "significant",
                  "CAV accuracy"},
                 {{class_name, layer, std::to_string(r.inputs), std::to_string(r.concept_examples),
                   number("%.3f", r.mean) + " ± " + number("%.3f", r.sd),
                   number("%.3f", r.random_mean) + " ± " + number("%.3f", r.random_sd), number("%.3f", r.test.t),
                   number("%.3g", r.test.p), r.significant ? "yes (p < 0.05)" : "no", number("%.3f", acc)}});
  html += "<p>" +
          html_img(plot_curves({{"tcav score per run", {"concept", "random"}, {r.concept_scores, r.random_scores}}}),
                   "TCAV scores per run") +
          "</p>";
  html += "<p class=\"summary\">" + std::to_string(opt.runs) +
          " CAVs of the concept, each against its own random set, and as many CAVs of a random set against the same "
          "sets (the null); two-sided two-sample t-test between their scores.</p>";
  return html;
}

const GlobalSectionRegistration kTcavSection(
    {"tcav",
     "TCAV",
     "the fraction of a class's inputs whose logit rises along a concept's activation vector, tested against random "
     "vectors (Kim et al. 2018)",
     {required_option({"layer", "", "layer whose activations the CAVs live in", "TEXT"}),
      required_option({"class", "", "class whose logit is tested", "INT"}),
      required_option({"concept", "", "the concept's examples .npy (N, ...)", "FILE", any_value_names_file}),
      required_option({"random", "", "random examples .npy, at least as many as the concept's", "FILE",
                       any_value_names_file}),
      {"runs", "10", "CAVs per side", "INT"},
      {"seed", "0", "random sets and classifiers", "INT"}},
     render_tcav});

}  // namespace

}  // namespace xdnn::explain
