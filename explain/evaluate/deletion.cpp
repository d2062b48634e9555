// Deletion metric (Petsiuk et al. 2018, "RISE"): remove the features an attribution ranks highest
// first (set them to the baseline) and record the target score after each step; a faithful attribution
// makes the score fall fast, so a lower area under the curve is better. Exactly the golden README's
// §`xdnn evaluate` (see curve.h for the order, the points k_i and per-pixel attributions).
// Output: the curves C (N, steps + 1), C[n, 0] = s(x_n), C[n, steps] = s(all b); summary: the AUC.
#include "explain/evaluate/curve.h"

namespace xdnn::explain {
namespace {

MetricResult deletion(const MetricRequest& req) { return curve_metric(req, CurveKind::Deletion); }

MetricRegistration reg{{"deletion",
                        "score after removing the most relevant features first (curve; lower AUC is better)",
                        curve_option_specs(), deletion}};

}  // namespace
}  // namespace xdnn::explain
