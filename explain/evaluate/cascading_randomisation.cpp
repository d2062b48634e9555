// Cascading model-parameter randomisation (Adebayo et al. 2018): see sanity.h. Output (N, L): the
// similarity of each sample's map after the top 1, 2, ..., L parameterised layers are random; summary:
// after all of them (near 0 for a method that depends on the model; near 1 flags one that does not).
#include "explain/evaluate/sanity.h"

namespace xdnn::explain {
namespace {

MetricResult cascading(const MetricRequest& req) { return randomisation_check(req, Randomisation::Cascading); }

MetricRegistration reg{{"cascading-randomisation",
                        "similarity of the map after randomising layers from the top down (Adebayo et al. 2018; "
                        "lower is better)",
                        randomisation_options(), cascading}};

}  // namespace
}  // namespace xdnn::explain
