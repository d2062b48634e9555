// Data movement along arbitrary axes (slice, transpose, concat, pad, gather), any dtype: elements are
// moved as bytes. The backward passes that add (pad with reflect/edge, gather) run serially in a fixed
// order, so their sums do not depend on the thread count.
#include <cstring>

#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/shape_util.h"

namespace xdnn::ops {

namespace {

// Visits the elements of `shape` in row-major order, tracking the offset `off = base + Σ idx[d]·stride[d]`
// in another tensor; calls fn(flat, off).
template <class Fn>
void walk(const Shape& shape, int64_t base, const std::vector<int64_t>& stride, Fn&& fn) {
  const int n = static_cast<int>(shape.size());
  const int64_t total = shape_numel(shape);
  if (total == 0) return;
  std::vector<int64_t> idx(n, 0);
  int64_t off = base;
  for (int64_t flat = 0; flat < total; ++flat) {
    fn(flat, off);
    for (int d = n - 1; d >= 0; --d) {
      ++idx[d];
      off += stride[d];
      if (idx[d] < shape[d]) break;
      off -= stride[d] * shape[d];
      idx[d] = 0;
    }
  }
}

void check_rank(const Tensor& x, size_t n, const char* what) {
  if (static_cast<size_t>(x.ndim()) != n)
    throw Error(std::string(what) + ": expected " + std::to_string(n) + " per-axis values for input " + x.describe());
}

}  // namespace

Tensor strided_slice(const Tensor& x, const std::vector<int64_t>& starts, const std::vector<int64_t>& steps,
                     const Shape& out_shape) {
  check_rank(x, starts.size(), "slice");
  return backend_of("strided_slice", x).strided_slice(x, starts, steps, out_shape);
}

static Tensor cpu_strided_slice(const Tensor& x, const std::vector<int64_t>& starts, const std::vector<int64_t>& steps,
                                const Shape& out_shape) {
  const Shape xs = x.strides();
  int64_t base = 0;
  std::vector<int64_t> stride(starts.size());
  for (size_t d = 0; d < starts.size(); ++d) {
    base += starts[d] * xs[d];
    stride[d] = steps[d] * xs[d];
  }
  Tensor y(out_shape, x.dtype());
  const size_t es = dtype_size(x.dtype());
  const char* px = static_cast<const char*>(x.raw_data());
  char* py = static_cast<char*>(y.raw_data());
  walk(out_shape, base, stride, [&](int64_t flat, int64_t off) { std::memcpy(py + flat * es, px + off * es, es); });
  return y;
}

Tensor strided_slice_backward(const Tensor& gy, const std::vector<int64_t>& starts, const std::vector<int64_t>& steps,
                              const Shape& x_shape) {
  return backend_of("strided_slice_backward", gy).strided_slice_backward(gy, starts, steps, x_shape);
}

static Tensor cpu_strided_slice_backward(const Tensor& gy, const std::vector<int64_t>& starts,
                                         const std::vector<int64_t>& steps, const Shape& x_shape) {
  Tensor gx(x_shape, gy.dtype());
  const Shape xs = gx.strides();
  int64_t base = 0;
  std::vector<int64_t> stride(starts.size());
  for (size_t d = 0; d < starts.size(); ++d) {
    base += starts[d] * xs[d];
    stride[d] = steps[d] * xs[d];
  }
  const size_t es = dtype_size(gy.dtype());
  const char* pg = static_cast<const char*>(gy.raw_data());
  char* po = static_cast<char*>(gx.raw_data());
  // Slices with a non-zero step visit each input position at most once: a copy, not a sum.
  walk(gy.shape(), base, stride, [&](int64_t flat, int64_t off) { std::memcpy(po + off * es, pg + flat * es, es); });
  return gx;
}

Tensor transpose_axes(const Tensor& x, const std::vector<int64_t>& perm) {
  check_rank(x, perm.size(), "transpose");
  return backend_of("transpose_axes", x).transpose_axes(x, perm);
}

static Tensor cpu_transpose_axes(const Tensor& x, const std::vector<int64_t>& perm) {
  const PermutedShape permuted = permuted_shape(x, perm);
  const Shape& out = permuted.shape;
  const std::vector<int64_t>& stride = permuted.source_strides;
  Tensor y(out, x.dtype());
  const size_t es = dtype_size(x.dtype());
  const char* px = static_cast<const char*>(x.raw_data());
  char* py = static_cast<char*>(y.raw_data());
  walk(out, 0, stride, [&](int64_t flat, int64_t off) { std::memcpy(py + flat * es, px + off * es, es); });
  return y;
}

Tensor concat_axis(const std::vector<Tensor>& xs, int64_t axis) {
  return backend_of("concat_axis", xs).concat_axis(xs, axis);
}

static Tensor cpu_concat_axis(const std::vector<Tensor>& xs, int64_t axis) {
  const Shape out = concat_shape(xs, axis);
  const Tensor& a = xs[0];
  Tensor y(out, a.dtype());
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= out[d];
  for (int d = static_cast<int>(axis) + 1; d < a.ndim(); ++d) inner *= out[d];
  const size_t es = dtype_size(a.dtype());
  char* py = static_cast<char*>(y.raw_data());
  const int64_t row = out[axis] * inner;
  int64_t at = 0;
  for (const Tensor& t : xs) {
    const int64_t len = t.dim(static_cast<int>(axis)) * inner;
    const char* pt = static_cast<const char*>(t.raw_data());
    for (int64_t o = 0; o < outer; ++o) std::memcpy(py + (o * row + at) * es, pt + o * len * es, len * es);
    at += len;
  }
  return y;
}

namespace {

// For each axis, the input coordinate each output coordinate reads (−1: the constant fill).
std::vector<std::vector<int64_t>> pad_maps(const Shape& x_shape, const std::vector<int64_t>& pb,
                                           const std::vector<int64_t>& pe, PadMode mode) {
  std::vector<std::vector<int64_t>> maps(x_shape.size());
  Shape out_shape(x_shape.size());
  for (size_t d = 0; d < x_shape.size(); ++d) {
    out_shape[d] = checked_add(checked_add(x_shape[d], pb[d], "pad"), pe[d], "pad");
    if (out_shape[d] < 0) throw Error("pad: cropping more than axis " + std::to_string(d) + " holds");
  }
  checked_numel(out_shape, "pad output");  // before the per-axis maps below are built
  for (size_t d = 0; d < x_shape.size(); ++d) {
    const int64_t n = x_shape[d], out = out_shape[d];
    if (mode == PadMode::Reflect && (pb[d] >= n || pe[d] >= n) && (pb[d] > 0 || pe[d] > 0))
      throw Error("pad: reflect padding " + std::to_string(std::max(pb[d], pe[d])) + " must be smaller than axis " +
                  std::to_string(d) + " of size " + std::to_string(n));
    if (mode == PadMode::Edge && n == 0 && out > 0) throw Error("pad: edge padding of an empty axis");
    for (int64_t o = 0; o < out; ++o) {
      int64_t i = o - pb[d];
      if (i < 0 || i >= n) {
        if (mode == PadMode::Constant)
          i = -1;
        else if (mode == PadMode::Edge)
          i = i < 0 ? 0 : n - 1;
        else
          i = i < 0 ? -i : 2 * (n - 1) - i;
      }
      maps[d].push_back(i);
    }
  }
  return maps;
}

// Row-major walk over the padded output: fn(flat, offset in x, whether it is a constant fill).
template <class Fn>
void pad_walk(const std::vector<std::vector<int64_t>>& maps, const Shape& xs, Fn&& fn) {
  const size_t n = maps.size();
  Shape out(n), idx(n, 0);
  for (size_t d = 0; d < n; ++d) out[d] = static_cast<int64_t>(maps[d].size());
  const int64_t total = shape_numel(out);
  for (int64_t flat = 0; flat < total; ++flat) {
    int64_t off = 0;
    bool fill = false;
    for (size_t d = 0; d < n; ++d) {
      const int64_t i = maps[d][idx[d]];
      fill = fill || i < 0;
      off += i * xs[d];
    }
    fn(flat, off, fill);
    for (size_t d = n; d-- > 0;) {
      if (++idx[d] < out[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace

Tensor pad_axes(const Tensor& x, const std::vector<int64_t>& pb, const std::vector<int64_t>& pe, PadMode mode,
                double value) {
  check_rank(x, pb.size(), "pad");
  check_rank(x, pe.size(), "pad");
  return backend_of("pad_axes", x).pad_axes(x, pb, pe, mode, value);
}

static Tensor cpu_pad_axes(const Tensor& x, const std::vector<int64_t>& pb, const std::vector<int64_t>& pe,
                           PadMode mode, double value) {
  const auto maps = pad_maps(x.shape(), pb, pe, mode);
  Shape out(x.ndim());
  for (int d = 0; d < x.ndim(); ++d) out[d] = static_cast<int64_t>(maps[d].size());
  Tensor y = Tensor::full(out, value, x.dtype());
  const Shape xs = x.strides();
  const size_t es = dtype_size(x.dtype());
  const char* px = static_cast<const char*>(x.raw_data());
  char* py = static_cast<char*>(y.raw_data());
  pad_walk(maps, xs, [&](int64_t flat, int64_t off, bool fill) {
    if (!fill) std::memcpy(py + flat * es, px + off * es, es);
  });
  return y;
}

Tensor pad_axes_backward(const Tensor& gy, const std::vector<int64_t>& pb, const std::vector<int64_t>& pe, PadMode mode,
                         const Shape& x_shape) {
  expect_float(gy, "pad backward");
  return backend_of("pad_axes_backward", gy).pad_axes_backward(gy, pb, pe, mode, x_shape);
}

static Tensor cpu_pad_axes_backward(const Tensor& gy, const std::vector<int64_t>& pb, const std::vector<int64_t>& pe,
                                    PadMode mode, const Shape& x_shape) {
  const auto maps = pad_maps(x_shape, pb, pe, mode);
  Tensor gx(x_shape, gy.dtype());
  const Shape xs = gx.strides();
  dispatch_float(gy.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* pg = gy.data<T>();
    T* po = gx.data<T>();
    pad_walk(maps, xs, [&](int64_t flat, int64_t off, bool fill) {
      if (!fill) po[off] += pg[flat];
    });
    return 0;
  });
  return gx;
}

Tensor gather_axis(const Tensor& data, const Tensor& indices, int64_t axis) {
  if (indices.dtype() != DType::I64) throw Error("gather: indices must be int64, got " + indices.describe());
  if (axis < 0 || axis >= data.ndim()) throw Error("gather: axis out of range for " + data.describe());
  return backend_of("gather_axis", data, indices).gather_axis(data, indices, axis);
}

static Tensor cpu_gather_axis(const Tensor& data, const Tensor& indices, int64_t axis) {
  const int64_t A = data.dim(static_cast<int>(axis));
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= data.dim(d);
  for (int d = static_cast<int>(axis) + 1; d < data.ndim(); ++d) inner *= data.dim(d);
  Shape out(data.shape().begin(), data.shape().begin() + axis);
  out.insert(out.end(), indices.shape().begin(), indices.shape().end());
  out.insert(out.end(), data.shape().begin() + axis + 1, data.shape().end());
  Tensor y(out, data.dtype());
  const int64_t K = indices.numel();
  const int64_t* pi = indices.data<int64_t>();
  const size_t es = dtype_size(data.dtype());
  const char* pd = static_cast<const char*>(data.raw_data());
  char* py = static_cast<char*>(y.raw_data());
  for (int64_t k = 0; k < K; ++k)
    if (pi[k] < -A || pi[k] >= A)
      throw Error("gather: index " + std::to_string(pi[k]) + " is outside [" + std::to_string(-A) + ", " +
                  std::to_string(A) + ") for axis " + std::to_string(axis) + " of " + data.describe());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < K; ++k) {
      const int64_t i = pi[k] < 0 ? pi[k] + A : pi[k];
      std::memcpy(py + (o * K + k) * inner * es, pd + (o * A + i) * inner * es, inner * es);
    }
  return y;
}

Tensor gather_axis_backward(const Tensor& gy, const Tensor& indices, int64_t axis, const Shape& data_shape) {
  expect_float(gy, "gather backward");
  return backend_of("gather_axis_backward", gy, indices).gather_axis_backward(gy, indices, axis, data_shape);
}

static Tensor cpu_gather_axis_backward(const Tensor& gy, const Tensor& indices, int64_t axis, const Shape& data_shape) {
  Tensor gx(data_shape, gy.dtype());
  const int64_t A = data_shape[axis];
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= data_shape[d];
  for (size_t d = axis + 1; d < data_shape.size(); ++d) inner *= data_shape[d];
  const int64_t K = indices.numel();
  const int64_t* pi = indices.data<int64_t>();
  dispatch_float(gy.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* pg = gy.data<T>();
    T* po = gx.data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k = 0; k < K; ++k) {
        const int64_t i = pi[k] < 0 ? pi[k] + A : pi[k];
        for (int64_t j = 0; j < inner; ++j) po[(o * A + i) * inner + j] += pg[(o * K + k) * inner + j];
      }
    return 0;
  });
  return gx;
}

// This file's entries of the CPU table (engine/cpu/backend_cpu.cpp).
void add_cpu_data_movement(Backend& b) {
  b.strided_slice = cpu_strided_slice;
  b.strided_slice_backward = cpu_strided_slice_backward;
  b.transpose_axes = cpu_transpose_axes;
  b.concat_axis = cpu_concat_axis;
  b.pad_axes = cpu_pad_axes;
  b.pad_axes_backward = cpu_pad_axes_backward;
  b.gather_axis = cpu_gather_axis;
  b.gather_axis_backward = cpu_gather_axis_backward;
}

}  // namespace xdnn::ops
