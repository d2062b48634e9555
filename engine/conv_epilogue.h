// Convolution with its inference epilogue applied where the output is stored (issue 15): for the
// inference graph's Conv → (folded BatchNorm) → [Add residual] → [ReLU | Clip] chains
// (models/fuse_epilogues.h), the output is written once instead of once per node:
//   y = act((W ⋆ x + b) + r)    x (N, C, H, W), W (O, C/groups, KH, KW), b (O) or undefined,
//                               r (N, O, OH, OW) or undefined, y (N, O, OH, OW);
//   r + (W ⋆ x + b) instead with residual_first (the unfused Add's operand order: with two NaNs the
//   first operand's payload wins on x86, so the order is kept for identical bits)
// act: none, ReLU (v > 0 ? v : 0, as ops::unary Relu) or Clip (v < lo ? lo : v > hi ? hi : v, as
// ops::pointwise Clip, ReLU6 of MobileNetV2). The float operations are those of the unfused nodes, in the
// same order (the bias sum, then the residual sum, then the activation), so y has the same bits as
// conv2d_forward → add → unary / pointwise, for every thread count (tests/test_conv_epilogue.cpp).
// Forward only: no backward pass reads y's pre-activation, which this never stores.
// A device without its own entry runs the three ops one after another (same bits by definition).
#pragma once
#include "engine/ops.h"

namespace xdnn::ops {

enum class ConvActivation { None, Relu, Clip };

Tensor conv2d_forward_fused(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& residual,
                            bool residual_first, ConvActivation act, double lo, double hi, const Conv2dGeometry& g);

}  // namespace xdnn::ops
