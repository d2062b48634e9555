// The `probes` section of the global report (explain/global/section.h): Alain & Bengio's linear probe per
// layer with Hewitt & Liang's control task, as a table and a plot; plus the table / plot helpers that
// `xdnn probe` shares.
#include <algorithm>
#include <cstdio>

#include "engine/check.h"
#include "engine/error.h"
#include "explain/evaluate/plot.h"
#include "explain/global/linear_probe.h"
#include "explain/global/section.h"
#include "explain/html.h"
#include "explain/options.h"

namespace xdnn::explain {

namespace {

std::string fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

std::vector<std::string> probe_table_header() {
  return {"layer", "features", "train accuracy", "held-out accuracy", "control accuracy", "selectivity", "majority"};
}

std::vector<std::vector<std::string>> probe_table_rows(const std::vector<ProbeScore>& scores) {
  std::vector<std::vector<std::string>> rows;
  for (const ProbeScore& s : scores)
    rows.push_back({s.layer, std::to_string(s.features), fixed(s.train_accuracy, 4), fixed(s.accuracy, 4),
                    fixed(s.control_accuracy, 4), fixed(s.selectivity, 4), fixed(s.majority, 4)});
  return rows;
}

RgbImage plot_probe_scores(const std::vector<ProbeScore>& scores) {
  check(scores.size() >= 2, "probe plot: needs at least two layers");
  CurvePanel panel{"probe accuracy by layer", {"task", "control", "majority"}, {{}, {}, {}}};
  for (const ProbeScore& s : scores) {
    panel.curves[0].push_back(s.accuracy);
    panel.curves[1].push_back(s.control_accuracy);
    panel.curves[2].push_back(s.majority);
  }
  return plot_curves({panel});
}

namespace {

ProbeOptions probe_options_from(const Options& o) {
  ProbeOptions p;
  p.epochs = o.get_int("epochs", p.epochs);
  p.min_steps = o.get_int("min-steps", p.min_steps);
  p.batch_size = o.get_int("batch-size", p.batch_size);
  p.learning_rate = o.get_double("lr", p.learning_rate);
  p.weight_decay = o.get_double("weight-decay", p.weight_decay);
  p.holdout = o.get_double("holdout", p.holdout);
  p.seed = static_cast<uint64_t>(o.get_int("seed", 0));
  check(p.epochs >= 1 && p.epochs <= 1000, "probes: epochs must be in 1..1000");
  check(p.min_steps >= 0 && p.min_steps <= 10000000, "probes: min-steps must be in 0..10000000");
  check(p.batch_size >= 1, "probes: batch-size must be >= 1");
  check(p.learning_rate > 0 && p.weight_decay >= 0, "probes: lr must be > 0 and weight-decay >= 0");
  check(p.holdout > 0 && p.holdout < 1, "probes: holdout must be in (0, 1)");
  return p;
}

std::string render_probes(const GlobalContext& c) {
  check(c.data.defined() && c.data.is_float(),
        "probes section: expected float model inputs (images); for token models use `xdnn probe --trigger-test N`");
  if (!c.labels.defined())
    throw Error("probes section: the data have no labels",
                "use --fashion-test N, or --input X.npy with --labels Y.npy");
  check(c.labels.numel() == c.data.dim(0),
        "probes section: expected one label per sample, got " + c.labels.describe() + " for " + c.data.describe());
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < c.labels.numel(); ++i) labels.push_back(static_cast<int64_t>(c.labels.item(i)));
  const std::vector<ProbeScore> scores = probe_layers(
      *c.model, c.data, labels, parse_name_list(c.options.get("layers", "")), probe_options_from(c.options));
  std::string html = html_table(probe_table_header(), probe_table_rows(scores));
  if (scores.size() >= 2) html += "<p>" + html_img(plot_probe_scores(scores), "probe accuracy by layer") + "</p>";
  html += "<p class=\"summary\">Held-out accuracy of a softmax probe on each layer's activations (" +
          std::to_string(c.data.dim(0)) +
          " samples, each its own type); control: the same probe on labels drawn at random once per sample "
          "(Hewitt &amp; Liang 2019), so selectivity = accuracy &minus; control accuracy.</p>";
  return html;
}

const GlobalSectionRegistration kProbesSection(
    {"probes",
     "Linear probes",
     "a softmax classifier per layer, held-out accuracy and the control task's (Alain & Bengio 2016; Hewitt & "
     "Liang 2019)",
     {{"layers", "", "comma-separated layers to probe (default: every layer with one row per sample)", "TEXT"},
      {"epochs", "3", "probe training epochs (Adam, fixed order)", "INT"},
      {"min-steps", "90", "more epochs until at least this many mini-batches", "INT"},
      {"batch-size", "256", "probe mini-batch size", "INT"},
      {"lr", "0.05", "Adam first step size (decays linearly to 0)", "FLOAT"},
      {"weight-decay", "0.0001", "L2 penalty on the probe's weights", "FLOAT"},
      {"holdout", "0.2", "fraction of the samples held out for the accuracy", "FLOAT"},
      {"seed", "0", "split, order and control labels", "INT"}},
     render_probes});

}  // namespace

}  // namespace xdnn::explain
