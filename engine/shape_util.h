// Shape arithmetic shared by the CPU ops (engine/cpu/) and their CUDA twins: one copy of each
// rule, so that both backends accept the same shapes and fail with the same message.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace xdnn {

// Checked shape arithmetic. Every size computed from user data (a model file's attributes, a run-time
// shape tensor, a CLI count) goes through these before anything is allocated, so that a wrapped product
// (8 * (2^61 + 1) == 8 in int64) or an absurd size is an Error naming `what`, never a crash.
//
// The most elements one tensor may hold: 2^34 (64 GiB of float32, more than any machine this engine runs
// on can hold twice). A bound this size rejects absurd shapes before an allocation is attempted, while
// every real workload (Fashion-MNIST's 60000 x 784 training set is 2^25.5) stays far below it.
constexpr int64_t kMaxTensorElements = int64_t(1) << 34;

// a * b and a + b for non-negative sizes; throw "<what>: size ... overflows" on int64 overflow.
int64_t checked_mul(int64_t a, int64_t b, const char* what);
int64_t checked_add(int64_t a, int64_t b, const char* what);
// The element count of `s`: throws naming `what` and the shape when a dimension is negative, when the
// product overflows or when it exceeds kMaxTensorElements. shape_numel (engine/tensor.h) calls this.
int64_t checked_numel(const Shape& s, const char* what);

// Output length of a convolution / pooling window along one axis:
// floor((in + pad_begin + pad_end - dilation*(kernel-1) - 1) / stride) + 1 (ceil with ceil_mode; a last
// window starting in the end padding dropped, as PyTorch does). Checked: every term is validated and the
// sums cannot overflow. Returns <= 0 when the window does not fit; throws naming `what` on bad geometry.
int64_t window_output_size(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t kernel, int64_t stride,
                           int64_t dilation, bool ceil_mode, const char* what);

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
