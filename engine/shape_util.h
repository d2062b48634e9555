// Shape arithmetic shared by the CPU ops (engine/cpu/) and their CUDA twins (kernels/): one copy of each
// rule, so that both backends accept the same shapes and fail with the same message.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace xdnn {

// NumPy broadcasting of two shapes (trailing axes aligned, 1 stretches); throws naming both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b);

// A tensor of shape `s` seen as (outer, D, inner) around `axis` (negative counts from the end): the lines
// along the axis are the unit of softmax-like work. Throws "<what>: axis ... is out of range ...".
struct AxisLines {
  int64_t outer, D, inner;
};
AxisLines axis_lines(const Shape& s, int axis, const char* what);

// The shape of xs concatenated along `axis` (0 <= axis < rank): same dtype and rank, equal sizes off the
// axis; throws naming the first mismatching pair.
Shape concat_shape(const std::vector<Tensor>& xs, int64_t axis);

// The result of transposing x by `perm` (y.shape[i] = x.shape[perm[i]]): its shape and, per output axis,
// the stride (in elements) of the input axis it reads. Throws on an invalid permutation.
struct PermutedShape {
  Shape shape;
  std::vector<int64_t> source_strides;
};
PermutedShape permuted_shape(const Tensor& x, const std::vector<int64_t>& perm);

}  // namespace xdnn
