// Ranks along the last axis: the sort primitive that explain/mask_perturbation.cpp's extremal area term
// needs (Fong et al. 2019: the k-th smallest mask value is pulled to the k-th target). Part of the ops::
// device boundary of engine/ops.h (same conventions: checked once here, then the entry of the operands'
// device), in its own header so that adding to it rebuilds only its users. CPU: engine/cpu/sort.cpp;
// CUDA: kernels/sort.cu, whose per-element body (kernels/sort_body.h) is tested on the host.
#pragma once
#include "engine/tensor.h"

namespace xdnn::ops {

// x float (..., L) -> int64 (..., L): each element's position in its row's ascending *stable* order.
// The order: numbers by <, so −0 and +0 tie, −∞ first and +∞ after every other number; NaN after every
// number (+∞ included); ties (equal numbers, or two NaNs) in index order. Each row's ranks are thus a
// permutation of 0..L−1 fixed by the row alone, so every backend gives the same result:
//   rank_i = #{j : x_j before x_i} + #{j < i : x_j ties x_i}.
// x needs at least one axis; rows of length 0 and tensors without rows give an empty result.
Tensor stable_rank_last_axis(const Tensor& x);

}  // namespace xdnn::ops
