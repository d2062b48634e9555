// Saliency (Simonyan, Vedaldi & Zisserman 2014, eq. 2 without the absolute value): the raw gradient
// ∂f_K/∂x, signed, as Captum's Saliency(abs=False). Token models: ∂f_K/∂e summed over d.
#include "explain/point.h"

namespace xdnn::explain {
namespace {

Attribution saliency(const ExplainRequest& req) {
  PointGradient pg = gradient_at_point(req, BackwardMode::Gradient);
  return {finish_attribution(pg.point, pg.grad), "saliency", {}, 0};
}

MethodRegistration reg{{"saliency", "raw gradient of the target logit w.r.t. the input (signed)", {}, saliency}};

}  // namespace
}  // namespace xdnn::explain
