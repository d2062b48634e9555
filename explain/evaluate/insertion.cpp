// Insertion metric (Petsiuk et al. 2018, "RISE"): start from the all-baseline input and restore the
// features an attribution ranks highest first; a faithful attribution makes the target score rise fast,
// so a higher area under the curve is better. Exactly the golden README's §`xdnn evaluate` (see curve.h).
// Output: the curves C (N, steps + 1), C[n, 0] = s(all b), C[n, steps] = s(x_n); summary: the AUC.
#include "explain/evaluate/curve.h"

namespace xdnn::explain {
namespace {

MetricResult insertion(const MetricRequest& req) {
  const CurveSettings s = curve_settings(req.options, CurveKind::Insertion);
  MetricResult out;
  out.values = perturbation_curves(*req.model, req.input, req.attribution, req.targets, s);
  for (int64_t n = 0; n < out.values.dim(0); ++n)
    out.summary.push_back(curve_auc(out.values.data<double>() + n * (s.steps + 1), s.steps));
  out.summary_name = "AUC";
  return out;
}

MetricRegistration reg{{"insertion",
                        "score after restoring the most relevant features first into the baseline (curve; "
                        "higher AUC is better)",
                        curve_option_specs(), insertion}};

}  // namespace
}  // namespace xdnn::explain
