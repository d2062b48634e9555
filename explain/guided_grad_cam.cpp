// Guided Grad-CAM (Selvaraju et al. 2017, §3.1): guided backpropagation ⊙ Grad-CAM upsampled to the
// input's size: (N, C, H, W) ⊙ (N, 1, H, W), the map broadcast over channels.
#include "engine/ops.h"
#include "explain/common.h"
#include "explain/grad_cam.h"

namespace xdnn::explain {
namespace {

Attribution guided_grad_cam(const ExplainRequest& req) {
  const Tensor cam = grad_cam_map(req, req.options.get("layer", ""), /*upsample=*/true);
  PointGradient pg = gradient_at_point(req, BackwardMode::GuidedBackprop);
  return {ops::mul(pg.grad, cam), "guided-grad-cam", req.options.values, 0};
}

MethodRegistration reg{{"guided-grad-cam",
                        "guided backprop times the upsampled Grad-CAM map",
                        {{"layer", "", "tensor name of an (N, C, h, w) activation (default: the last one)"}},
                        guided_grad_cam}};

}  // namespace
}  // namespace xdnn::explain
