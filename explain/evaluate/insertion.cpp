// Insertion metric (Petsiuk et al. 2018, "RISE"): start from the all-baseline input and restore the
// features an attribution ranks highest first; a faithful attribution makes the target score rise fast,
// so a higher area under the curve is better. Exactly the golden README's §`xdnn evaluate` (see curve.h).
// Output: the curves C (N, steps + 1), C[n, 0] = s(all b), C[n, steps] = s(x_n); summary: the AUC.
#include "explain/evaluate/curve.h"

namespace xdnn::explain {
namespace {

MetricResult insertion(const MetricRequest& req) { return curve_metric(req, CurveKind::Insertion); }

MetricRegistration reg{{"insertion",
                        "score after restoring the most relevant features first into the baseline (curve; "
                        "higher AUC is better)",
                        curve_option_specs(), insertion}};

}  // namespace
}  // namespace xdnn::explain
