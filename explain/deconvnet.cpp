// DeconvNet (Zeiler & Fergus 2014, §2.1): the ordinary backward pass except at ReLUs, where the gradient
// g arriving at the output becomes max(g, 0) — the forward mask is ignored. Max-pooling keeps its forward
// switches (its ordinary gradient). Implemented by the layers as BackwardMode::DeconvNet.
#include "explain/point.h"

namespace xdnn::explain {
namespace {

Attribution deconvnet(const ExplainRequest& req) {
  PointGradient pg = gradient_at_point(req, BackwardMode::DeconvNet);
  return {finish_attribution(pg.point, pg.grad), "deconvnet", {}, 0};
}

MethodRegistration reg{
    {"deconvnet", "gradient with ReLUs passing max(g, 0) regardless of their input (Zeiler & Fergus)", {}, deconvnet}};

}  // namespace
}  // namespace xdnn::explain
