// Guided Grad-CAM (Selvaraju et al. 2017, §3.1): guided backpropagation ⊙ Grad-CAM upsampled to the
// input's size: (N, C, H, W) ⊙ (N, 1, H, W), the map broadcast over channels; (N, C, L) ⊙ (N, 1, L) for
// 1-D inputs. Token models (a 1-D map over the T tokens): the guided-backprop attribution (N, T) (the
// embedding-output gradient summed over d, as `guided-backprop` gives it) ⊙ the map (N, T).
#include "engine/ops.h"
#include "explain/grad_cam.h"
#include "explain/point.h"

namespace xdnn::explain {
namespace {

Attribution guided_grad_cam(const ExplainRequest& req) {
  const Tensor cam = grad_cam_map(req, req.options.get("layer", ""), /*upsample=*/true);
  PointGradient pg = gradient_at_point(req, BackwardMode::GuidedBackprop);
  const Tensor guided = finish_attribution(pg.point, pg.grad);  // input's shape, or (N, T) for tokens
  const Tensor map = pg.point.tokens ? cam.reshape({cam.dim(0), cam.numel() / cam.dim(0)}) : cam;
  if (map.ndim() != guided.ndim())
    throw Error("guided-grad-cam: a map " + cam.describe() + " does not fit the input attribution " + guided.describe(),
                "name a feature map with --layer whose positions match the input's");
  return {ops::mul(guided, map), "guided-grad-cam", req.options.values, 0};
}

MethodRegistration reg{{"guided-grad-cam",
                        "guided backprop times the upsampled Grad-CAM map",
                        {{"layer", "", "tensor name of an (N, C, h, w) activation (default: the last one)", "TENSOR"}},
                        guided_grad_cam}};

}  // namespace
}  // namespace xdnn::explain
