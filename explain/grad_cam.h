// Grad-CAM (Selvaraju et al. 2017, eqs. 1-2), shared by grad-cam and guided-grad-cam.
#pragma once
#include <string>

#include "explain/method.h"

namespace xdnn::explain {

// The value Grad-CAM uses when --layer is not given: the last convolutional feature map (N, C, h, w) with
// h·w > 1 that is not the output of a pooling node (layer kind containing "Pool"): a convolution's output
// or that of a rank-keeping node after one (batch norm, ReLU, residual Add); for the golden cnn the
// second ReLU's output. When there is none: the last 1-D feature map (N, C, L), L > 1, as in a text CNN.
std::string default_cam_layer(const Model& model, const Tensor& input);
std::string default_cam_layer(const Model& model, const Tape& tape);  // the same, from a forward pass

// A = the value named `layer` (N, C, h, w) or (N, C, L), G = ∂f_K/∂A (ordinary gradient):
//   α_c = mean over positions of G[c],   cam = ReLU(Σ_c α_c A[c])   -> (N, 1, h, w) or (N, 1, L)
// and with `upsample` resized (after the ReLU) to the input's (H, W) bilinearly with half-pixel centres,
// or for a 1-D map to the input's length (last axis of (N, C, L) inputs or (N, T) token ids) linearly.
Tensor grad_cam_map(const ExplainRequest& req, const std::string& layer, bool upsample);
// That resize of a map (N, 1, h, w) or (N, 1, L) to the input x; `method` names the caller in errors.
Tensor upsample_map(const Tensor& map, const Tensor& x, const char* method);

}  // namespace xdnn::explain
