// A fused inference convolution (engine/conv_epilogue.h) whose output goes straight into a 2x2 stride-2
// max-pool (issue 15 / 20): for the forward-only graph's FusedConv2d → ForwardMaxPool2d pairs
// (models/fuse_epilogues.h) the store applies bias, residual and activation to one output plane (OH, OW)
// at a time in a thread's scratch row and writes only that plane's maxima:
//   y (N, O, OH/2, OW/2) = maxpool2x2(act((W ⋆ x + b) + r))
// The full-resolution (N, O, OH, OW) output is never written: the GEMM route's chunk buffer (O, S·OH·OW)
// is its only copy; the direct and depthwise kernels, which write whole samples, write blocks of a few
// samples into scratch. Same float operations and the same max selects in the same tap order as
// conv2d_forward_fused then ops::maxpool2d_forward_values, so the same bits (NaN and −0 included), for
// float32 and float64 and any thread count (tests/test_conv_epilogue.cpp).
// CPU only, not a backend entry: the strict and CUDA devices keep the two nodes (apply returns false).
#pragma once
#include "engine/conv_epilogue.h"

namespace xdnn::ops {

// Whether conv2d_forward_fused_pool takes these: x, w (and b, residual where defined) float32 or float64 on
// the CPU, x (N, C, H, W), a 2x2 stride-2 pool without padding, dilation or ceil_mode, and a convolution
// output of at least 2x2 positions.
bool conv2d_fused_pool_applies(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& residual,
                               const Conv2dGeometry& g, const Pool2dGeometry& pool);
// maxpool2d_forward_values(conv2d_forward_fused(x, w, b, residual, ...), pool) in one pass; throws Error
// where conv2d_fused_pool_applies is false.
Tensor conv2d_forward_fused_pool(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& residual,
                                 bool residual_first, ConvActivation act, double lo, double hi, const Conv2dGeometry& g,
                                 const Pool2dGeometry& pool);

}  // namespace xdnn::ops
