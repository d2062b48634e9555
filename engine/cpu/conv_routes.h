// Which route a CPU convolution takes, for tests that must know their case exercises it.
#pragma once
#include "engine/ops.h"

namespace xdnn::cpu {

// How a float32 convolution of x_shape with w_shape treats its padding taps (engine/cpu/conv_border.h): in the
// forward pass, or with input_gradient in conv2d_backward_input. Full: multiplied like the others (no class
// products); else skipped, the class products run class by class or by blocks of A's rows.
enum class PaddingTaps { Full, ClassByClass, RowBlocks };
PaddingTaps conv2d_padding_taps(const Shape& x_shape, const Shape& w_shape, const ops::Conv2dGeometry& g,
                                bool input_gradient);

}  // namespace xdnn::cpu
