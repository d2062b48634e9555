// One plane of the inference max-pool (ops::maxpool2d_forward_values, engine/cpu/pooling_tap_codes.cpp):
// x (H, W) → y (H/2, W/2), the 2x2 stride-2 maxima with that op's taps, scan order and selects, so the
// same bits. For stores that pool a plane they have just written (the fused convolution + pool,
// engine/conv_pool.h). H, W >= 2; reads only x's H·W elements.
#pragma once
#include <cstdint>

namespace xdnn::cpu {

void pool2x2_plane_values(const float* x, int64_t H, int64_t W, float* y);
void pool2x2_plane_values(const double* x, int64_t H, int64_t W, double* y);

}  // namespace xdnn::cpu
