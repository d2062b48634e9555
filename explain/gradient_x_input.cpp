// Gradient × input (Shrikumar et al. 2016): x ⊙ ∂f_K/∂x. Token models: e ⊙ ∂f_K/∂e summed over d.
#include "engine/ops.h"
#include "explain/point.h"

namespace xdnn::explain {
namespace {

Attribution gradient_x_input(const ExplainRequest& req) {
  PointGradient pg = gradient_at_point(req, BackwardMode::Gradient);
  return {finish_attribution(pg.point, ops::mul(pg.value, pg.grad)), "gradient-x-input", {}, 0};
}

MethodRegistration reg{{"gradient-x-input", "input times the gradient of the target logit", {}, gradient_x_input}};

}  // namespace
}  // namespace xdnn::explain
