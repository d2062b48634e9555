// AOPC, the area over the MoRF (or LeRF) perturbation curve (Samek et al. 2017, "Evaluating the
// visualization of what a deep neural network has learned", eq. 12):
//   AOPC = 1/(L + 1) Σ_{k=0..L} ( f(x^(0)) − f(x^(k)) )
// for one sample (the paper averages it over the data set; the CLI prints that mean). x^(k) is the input
// after k perturbation steps; here a step removes features exactly as the deletion curve does (curve.h:
// baseline value b, points k_i = ⌈i·D/n⌉, L = n steps), where the paper replaces 9×9 regions by random
// values: a deterministic, per-feature version of the same measure.
// --order morf (most relevant first, the default): a faithful attribution destroys the score fast, high
// AOPC is better. --order lerf (least relevant first): the score should stay, AOPC near 0 is better.
// Output: the curve (N, n + 1); summary: AOPC per sample.
#include "engine/error.h"
#include "engine/ops_fill.h"
#include "explain/evaluate/curve.h"

namespace xdnn::explain {
namespace {

MetricResult aopc(const MetricRequest& req) {
  CurveSettings s = curve_settings(req.options, CurveKind::Deletion);
  const std::string order = req.options.get("order", "morf");
  if (order != "morf" && order != "lerf") throw Error("--order '" + order + "': expected morf or lerf");
  s.least_first = order == "lerf";
  MetricResult out;
  out.values = perturbation_curves(req.scoring_model(), req.input, req.attribution, req.targets, s);
  const int64_t points = s.steps + 1;
  const std::vector<double> curves = ops::value_vector(out.values);  // (N, n + 1), a host tensor already
  for (int64_t n = 0; n < out.values.dim(0); ++n) {
    const double* c = curves.data() + n * points;
    double sum = 0.0;
    for (int64_t k = 0; k < points; ++k) sum += c[0] - c[k];
    out.summary.push_back(sum / static_cast<double>(points));
  }
  out.summary_name = "AOPC";
  return out;
}

std::vector<OptionSpec> aopc_options() {
  std::vector<OptionSpec> o = curve_option_specs();
  o.push_back({"order", "morf", "morf (most relevant first) or lerf (least relevant first)", "{morf,lerf}"});
  return o;
}

MetricRegistration reg{{"aopc",
                        "area over the MoRF / LeRF perturbation curve (Samek et al. 2017; MoRF: higher is better)",
                        aopc_options(), aopc}};

}  // namespace
}  // namespace xdnn::explain
