// Grad-CAM (Selvaraju et al. 2017, eqs. 1-2), shared by grad-cam and guided-grad-cam.
#pragma once
#include <string>

#include "explain/method.h"

namespace xdnn::explain {

// The value Grad-CAM uses when --layer is not given: the last 4-D (N, C, h, w) activation with h·w > 1
// that is not the output of a pooling node (layer kind containing "Pool"), i.e. the last convolutional
// feature map before the network pools or flattens it (for the golden cnn: the second ReLU's output).
std::string default_cam_layer(const Model& model, const Tensor& input);
std::string default_cam_layer(const Model& model, const Tape& tape);  // the same, from a forward pass

// A = the value named `layer` (N, C, h, w), G = ∂f_K/∂A (ordinary gradient):
//   α_c = mean_{h,w} G[c],   cam = ReLU(Σ_c α_c A[c])   -> (N, 1, h, w)
// and with `upsample` resized to the input's (H, W) bilinearly with half-pixel centres (after the ReLU).
Tensor grad_cam_map(const ExplainRequest& req, const std::string& layer, bool upsample);

}  // namespace xdnn::explain
