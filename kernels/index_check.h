// The first index at which a test holds, found on the GPU (kernels/reduce_axes_body.h's FirstNonfiniteBody,
// FirstOutsideBody): a min-reduction over the fixed grid of kernels/reduce_body.h, so only one int64 comes
// back to the host instead of the whole tensor. Used by ops::first_nonfinite and by the id and label range
// checks of gather_rows, gather_axis and the cross-entropy (which name the bad value: one more int64).
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace xdnn::cuda {

// The first flat index of ids (int64, on the GPU) outside [lo, hi), or −1.
int64_t first_outside(const Tensor& ids, int64_t lo, int64_t hi);
// ids[i] copied back (one element), for an error message.
int64_t id_at(const Tensor& ids, int64_t i);

}  // namespace xdnn::cuda
