// Bilinear upsampling of class activation maps to the input's size (CAM, Grad-CAM, RISE's masks).
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace xdnn::explain {

// Bilinear resize with half-pixel centres (PyTorch align_corners=False, ONNX Resize half_pixel):
// cam (N, 1, h, w) -> (N, 1, H, W). Source coordinate s = (y + 1/2)·h/H − 1/2 clamped below at 0,
// y0 = floor(s), y1 = min(y0 + 1, h − 1), λ = s − y0; the same along the width.
Tensor upsample_bilinear(const Tensor& cam, int64_t H, int64_t W);

// The (out, in) matrix of that 1-D resize: upsample_bilinear is R_y · cam · R_xᵀ per map.
Tensor resize_matrix(int64_t out, int64_t in, DType dtype);

}  // namespace xdnn::explain
