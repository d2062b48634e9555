#include "engine/shape_util.h"

#include <algorithm>
#include <string>

#include "engine/ops.h"

namespace xdnn {

int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  int64_t r = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r))
    throw Error(std::string(what) + ": size " + std::to_string(a) + " * " + std::to_string(b) +
                " is negative or overflows");
  return r;
}

int64_t checked_add(int64_t a, int64_t b, const char* what) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r))
    throw Error(std::string(what) + ": size " + std::to_string(a) + " + " + std::to_string(b) + " overflows");
  return r;
}

int64_t checked_numel(const Shape& s, const char* what) {
  // The product of the non-zero dimensions is bounded even when a zero makes the tensor empty: strides and
  // broadcast strides are partial products of the dimensions, so an empty (0, 2^60, 101) would overflow
  // them (UBSan, found by fuzz_onnx). No real tensor has an empty axis beside 2^34 elements' worth of others.
  int64_t n = 1;
  bool overflow = false, empty = false;
  for (int64_t d : s) {
    if (d < 0) throw Error(std::string(what) + ": negative dimension in shape " + shape_str(s));
    if (d == 0) {
      empty = true;
      continue;
    }
    overflow = overflow || __builtin_mul_overflow(n, d, &n);
  }
  if (overflow || n > kMaxTensorElements)
    throw Error(std::string(what) + ": shape " + shape_str(s) + " has more than " + std::to_string(kMaxTensorElements) +
                " elements (2^34, the per-tensor limit)" + (empty ? " in its non-empty axes" : ""));
  return empty ? 0 : n;
}

int64_t window_output_size(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t kernel, int64_t stride,
                           int64_t dilation, bool ceil_mode, const char* what) {
  if (kernel < 1 || stride < 1 || dilation < 1 || pad_begin < 0 || pad_end < 0 || in < 0)
    throw Error(std::string(what) + ": kernel " + std::to_string(kernel) + ", stride " + std::to_string(stride) +
                ", dilation " + std::to_string(dilation) + " must be >= 1 and pads " + std::to_string(pad_begin) +
                ", " + std::to_string(pad_end) + " >= 0");
  // Each term is bounded by kMaxTensorElements first, so the sums below stay far from int64 overflow.
  const int64_t limit = kMaxTensorElements;
  if (in > limit || stride > limit || pad_begin > limit || pad_end > limit || kernel > limit || dilation > limit ||
      checked_mul(dilation, kernel - 1, what) > limit)
    throw Error(std::string(what) + ": input size " + std::to_string(in) + ", pads " + std::to_string(pad_begin) +
                ", " + std::to_string(pad_end) + ", kernel " + std::to_string(kernel) + ", stride " +
                std::to_string(stride) + " or dilation " + std::to_string(dilation) + " exceeds " +
                std::to_string(limit));
  const int64_t span = in + pad_begin + pad_end - dilation * (kernel - 1) - 1;
  if (span < 0) return 0;
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad_begin) --out;
  return out;
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) throw Error("cannot broadcast shapes " + shape_str(a) + " and " + shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

AxisLines axis_lines(const Shape& s, int axis, const char* what) {
  const int n = static_cast<int>(s.size());
  const int a = axis < 0 ? axis + n : axis;
  if (a < 0 || a >= n)
    throw Error(std::string(what) + ": axis " + std::to_string(axis) + " is out of range for shape " + shape_str(s));
  AxisLines l{1, s[a], 1};
  for (int i = 0; i < a; ++i) l.outer *= s[i];
  for (int i = a + 1; i < n; ++i) l.inner *= s[i];
  return l;
}

Shape concat_shape(const std::vector<Tensor>& xs, int64_t axis) {
  if (xs.empty()) throw Error("concat: no inputs");
  const Tensor& a = xs[0];
  if (axis < 0 || axis >= a.ndim())
    throw Error("concat: axis " + std::to_string(axis) + " out of range for " + a.describe());
  Shape out = a.shape();
  out[axis] = 0;
  for (const Tensor& t : xs) {
    if (t.dtype() != a.dtype() || t.ndim() != a.ndim())
      throw Error("concat: inputs " + a.describe() + " and " + t.describe() + " do not match");
    for (int d = 0; d < a.ndim(); ++d)
      if (d != axis && t.dim(d) != a.dim(d))
        throw Error("concat: inputs " + a.describe() + " and " + t.describe() + " differ outside axis " +
                    std::to_string(axis));
    out[axis] += t.dim(static_cast<int>(axis));
  }
  return out;
}

PermutedShape permuted_shape(const Tensor& x, const std::vector<int64_t>& perm) {
  const Shape xs = x.strides();
  PermutedShape p{Shape(perm.size()), std::vector<int64_t>(perm.size())};
  std::vector<bool> seen(perm.size(), false);
  for (size_t i = 0; i < perm.size(); ++i) {
    const int64_t a = perm[i];
    if (a < 0 || a >= x.ndim() || seen[a]) throw Error("transpose: invalid permutation for input " + x.describe());
    seen[a] = true;
    p.shape[i] = x.dim(static_cast<int>(a));
    p.source_strides[i] = xs[a];
  }
  return p;
}

// Declared in engine/ops.h beside the convolution ops; shape arithmetic only, so it lives here.
namespace ops {

Shape conv2d_output_shape(const Shape& x_shape, const Shape& w_shape, const Conv2dGeometry& g) {
  if (x_shape.size() != 4 || w_shape.size() != 4)
    throw Error("conv2d: expected input (N, C, H, W) and weight (O, C/groups, KH, KW), got " + shape_str(x_shape) +
                " and " + shape_str(w_shape));
  const int64_t OH =
      window_output_size(x_shape[2], g.pad_top, g.pad_bottom, w_shape[2], g.stride_h, g.dilation_h, false, "conv2d");
  const int64_t OW =
      window_output_size(x_shape[3], g.pad_left, g.pad_right, w_shape[3], g.stride_w, g.dilation_w, false, "conv2d");
  if (OH < 1 || OW < 1) {
    const int64_t H = x_shape[2] + g.pad_top + g.pad_bottom, W = x_shape[3] + g.pad_left + g.pad_right;
    const int64_t eh = g.dilation_h * (w_shape[2] - 1) + 1, ew = g.dilation_w * (w_shape[3] - 1) + 1;
    throw Error("conv2d: input " + shape_str(x_shape) + " (padded " + std::to_string(H) + "x" + std::to_string(W) +
                ") is smaller than the dilated kernel " + std::to_string(eh) + "x" + std::to_string(ew));
  }
  const Shape y = {x_shape[0], w_shape[0], OH, OW};
  checked_numel(y, "conv2d output");
  return y;
}

}  // namespace ops

}  // namespace xdnn
