// Independent model-parameter randomisation (Adebayo et al. 2018): see sanity.h. Output (N, L): the
// similarity of each sample's map when only layer j (from the top) is random; summary: the mean over the
// layers (a method that ignores some layer keeps a high similarity there).
#include "explain/evaluate/sanity.h"

namespace xdnn::explain {
namespace {

MetricResult independent(const MetricRequest& req) { return randomisation_check(req, Randomisation::Independent); }

MetricRegistration reg{{"independent-randomisation",
                        "similarity of the map after randomising one layer at a time (Adebayo et al. 2018; lower "
                        "is better)",
                        randomisation_options(), independent}};

}  // namespace
}  // namespace xdnn::explain
