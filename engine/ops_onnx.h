// The ops of ONNX layers that had host loops (issue 17): reductions over axes with their arg
// (layers/reduce.cpp), resize taps (layers/resize.cpp), float Mod and Range (layers/compare.cpp), and
// the first non-finite element of a tensor (explain/finite.cpp). Part of the ops:: device boundary of
// engine/ops.h (same conventions: checked once here, then the entry of the operands' device), in its own
// header so that adding to it rebuilds only its users. CPU: engine/cpu/reduce_axes.cpp, resize.cpp,
// mod_range.cpp; CUDA: the kernels/ files of the same names, whose bodies (*_body.h) are tested on the host.
//
// Every op computes each output element in a fixed order that does not depend on threads or devices, so the
// CPU, Strict and CUDA give the same bits.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"

namespace xdnn::ops {

// ---- reductions over axes ----------------------------------------------------------------------------------
enum class ReduceOp { Sum, Max, Min, Prod };

// x: any shape, float or int64; kept: x's shape with the reduced axes set to 1 (same rank). Returns
// {y (kept, x's dtype), arg (int64, kept)}: y[k] = the Σ / max / min / Π of group k's elements taken in
// ascending flat index, accumulated in x's dtype; arg[k] = the flat index in x of the group's first maximum
// (Max) or minimum (Min), of its first element (Sum, Prod). NaN wins Max and Min (the first NaN), as max
// pooling's comparison does.
std::vector<Tensor> reduce_axes(ReduceOp op, const Tensor& x, const Shape& kept);
// The input gradient of Max / Min / Prod (float x): gy (kept) ->
//   Max, Min: gx[i] = gy[k] where i = arg[k], else 0 (the first extreme takes all);
//   Prod:     gx[i] = gy[k] · Π_{j≠i in group k} x_j, from the group's zero count and its product of the
//             non-zero elements in double (ascending order): exact with zeros, no division by zero.
Tensor reduce_axes_backward(ReduceOp op, const Tensor& x, const Tensor& gy, const Tensor& arg, const Shape& kept);

// Index of the first NaN or ±∞ element of a float tensor in flat order, −1 if there is none.
int64_t first_nonfinite(const Tensor& x);

// ---- resize --------------------------------------------------------------------------------------------
// One axis of a separable resize: output index j reads input indices i0[j] and i1[j] with weights w0[j],
// w1[j] (nearest: w1 = 0). A fixed linear map, built on the host from shapes and options (layers/resize.cpp).
struct ResizeAxisTaps {
  std::vector<int64_t> i0, i1;
  std::vector<double> w0, w1;
};
using ResizeTaps = std::vector<ResizeAxisTaps>;  // one per axis of x

// The output shape (o0, ..., o_{n−1}) the taps describe: o_a = taps[a].i0.size(). Shared by the backends.
Shape resize_output_shape(const ResizeTaps& taps);

// y = M x: x (d0, ..., d_{n−1}) float -> (o0, ..., o_{n−1}), o_a = taps[a].i0.size(); n ≤ 8. Output element
// k sums, in double, w · x[off] over the 2^n tap combinations c = 0, 1, ... (bit a of c picks tap 1 on axis
// a), w the product of the per-axis weights in axis order, combinations of weight 0 skipped; rounded once.
Tensor resize(const Tensor& x, const ResizeTaps& taps);
// gx = Mᵀ gy: gy (o0, ...) -> (x_shape). Input element i sums, in double, w · gy[k] over the output elements
// that read it, in the order of an odometer over the per-axis preimage lists (axis 0 outermost; each list
// in increasing output index, tap 0 before tap 1; taps of weight 0 left out), rounded once.
Tensor resize_backward(const Tensor& gy, const ResizeTaps& taps, const Shape& x_shape);

// Per axis a and input index i, the output indices j (increasing, tap 0 before tap 1) that read i with a
// non-zero weight, as CSR: entries [offset[a][i], offset[a][i + 1]) of index[a] / weight[a]. The
// backward pass's gather lists, shared by the backends.
struct ResizePreimages {
  std::vector<std::vector<int64_t>> offset, index;
  std::vector<std::vector<double>> weight;
};
ResizePreimages resize_preimages(const ResizeTaps& taps, const Shape& x_shape);

// ---- float Mod and Range ---------------------------------------------------------------------------------
// a mod b for float a, b of one dtype, NumPy broadcasting (ONNX Mod): returns {y, q} with, in double,
//   fmod = false: q = floor(a / b), y = a − b·q (the sign of the divisor, Python's %);
//   fmod = true:  q = trunc(a / b), y = fmod(a, b) (the sign of the dividend, C's fmod);
// both rounded to the dtype. q is the quotient the backward pass needs (∂y/∂b = −q).
std::vector<Tensor> mod(const Tensor& a, const Tensor& b, bool fmod);
// start, delta: one-element tensors of one dtype (float or int64) -> (n): y[i] = start + i · delta (int64:
// exactly; float: in double, then rounded), on their device. n ≥ 0 is the caller's (ONNX Range's length).
Tensor arange(const Tensor& start, const Tensor& delta, int64_t n);

}  // namespace xdnn::ops
