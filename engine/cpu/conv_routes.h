// Which route a CPU convolution takes, for tests that must know their case exercises it.
#pragma once
#include "engine/ops.h"

namespace xdnn::cpu {

// Whether a float32 convolution of x_shape with w_shape skips its padding taps (engine/cpu/conv_border.h):
// in the forward pass, or with input_gradient in conv2d_backward_input.
bool conv2d_skips_padding_taps(const Shape& x_shape, const Shape& w_shape, const ops::Conv2dGeometry& g,
                               bool input_gradient);

}  // namespace xdnn::cpu
