// Guided backpropagation (Springenberg et al. 2015, §3.4): the ordinary backward pass except at ReLUs,
// where the gradient g arriving at the output becomes max(g, 0)·[z > 0] (z: the ReLU's input). The
// layers implement the rule (BackwardMode::GuidedBackprop); every other layer uses its ordinary gradient.
// The output is the modified gradient at the input, not multiplied by the input.
#include "explain/point.h"

namespace xdnn::explain {
namespace {

Attribution guided_backprop(const ExplainRequest& req) {
  PointGradient pg = gradient_at_point(req, BackwardMode::GuidedBackprop);
  return {finish_attribution(pg.point, pg.grad), "guided-backprop", {}, 0};
}

MethodRegistration reg{{"guided-backprop",
                        "gradient with ReLUs passing only positive gradients where their input is positive",
                        {},
                        guided_backprop}};

}  // namespace
}  // namespace xdnn::explain
