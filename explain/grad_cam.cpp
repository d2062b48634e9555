// Grad-CAM (Selvaraju et al. 2017): see grad_cam.h. Output (N, 1, h, w), or (N, 1, H, W) with --upsample.
#include "explain/grad_cam.h"

#include <string>

#include "engine/ops.h"
#include "explain/common.h"

namespace xdnn::explain {

std::string default_cam_layer(const Model& model, const Tape& tape) {
  std::string best;
  for (const Node& node : model.nodes()) {
    if (std::string(node.layer->kind()).find("Pool") != std::string::npos) continue;
    for (int out : node.outputs) {
      if (out < 0) continue;
      const Tensor& v = tape.values[out];
      if (v.defined() && v.is_float() && v.ndim() == 4 && v.dim(2) * v.dim(3) > 1) best = model.value_name(out);
    }
  }
  if (best.empty())
    throw Error("grad-cam: the model has no 4-D (N, C, h, w) activation to use", "name one with --layer");
  return best;
}

std::string default_cam_layer(const Model& model, const Tensor& input) {
  return default_cam_layer(model, model.forward({input}));
}

// Cost: one forward pass, and a backward pass through the layers above `layer` only (target_gradient
// stops at the layer's producer), then O(N·C·h·w) for the map.
Tensor grad_cam_map(const ExplainRequest& req, const std::string& layer_name, bool upsample) {
  const Model& model = *req.model;
  const Tensor x = model_input(req);
  Tape tape = model.forward({x});
  const std::string layer = layer_name.empty() ? default_cam_layer(model, tape) : layer_name;
  const int id = model.value_id(layer);
  const Tensor& A = tape.values.at(id);
  if (!A.defined() || !A.is_float() || A.ndim() != 4)
    throw Error("grad-cam: --layer " + layer + ": expected a float (N, C, h, w) tensor, got " +
                (A.defined() ? A.describe() : std::string("nothing")));
  const Tensor G = target_gradient(model, tape, id, req.targets);
  const int64_t N = A.dim(0), C = A.dim(1), h = A.dim(2), w = A.dim(3);
  // α (N·C, 1) = G (N·C, h·w) · (1/(h·w)) for all samples in one product (eq. 1).
  const Tensor mean = Tensor::full({h * w, 1}, 1.0 / static_cast<double>(h * w), A.dtype());
  const Tensor alpha = ops::matmul(G.reshape({N * C, h * w}), mean);
  Tensor cam({N, 1, h, w}, A.dtype());
  for (int64_t n = 0; n < N; ++n) {
    const Tensor An = A.slice_batch(n, n + 1).reshape({C, h * w});
    const Tensor an = alpha.slice_batch(n * C, (n + 1) * C);                                      // (C, 1)
    cam.slice_batch(n, n + 1).copy_from(ops::matmul(an, An, true, false).reshape({1, 1, h, w}));  // eq. 2
  }
  cam = ops::unary(ops::Unary::Relu, cam);
  if (!upsample) return cam;
  if (x.ndim() != 4) throw Error("grad-cam --upsample: the input must be (N, C, H, W) images, got " + x.describe());
  return upsample_bilinear(cam, x.dim(2), x.dim(3));
}

namespace {

Attribution grad_cam(const ExplainRequest& req) {
  const bool up = req.options.get("upsample", "false") == "true";
  return {grad_cam_map(req, req.options.get("layer", ""), up), "grad-cam", req.options.values, 0};
}

MethodRegistration reg{{"grad-cam",
                        "gradient-weighted class activation map of a feature layer (Selvaraju et al. 2017)",
                        {{"layer", "", "tensor name of an (N, C, h, w) activation (default: the last one)"},
                         {"upsample", "false", "resize the map to the input's height and width (bilinear)"}},
                        grad_cam}};

}  // namespace
}  // namespace xdnn::explain
