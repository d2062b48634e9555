// CPU twins of engine/ops_onnx.h's resize: y = M x through per-axis taps (one output element per loop body),
// and gx = Mᵀ gy as a gather over the per-axis preimage lists (one input element per loop body), so that each
// element's sum has one fixed order on every thread count and device.
#include <string>

#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/dispatch.h"
#include "engine/ops_onnx.h"
#include "engine/parallel.h"

namespace xdnn::ops {
namespace {

constexpr int kMaxResizeAxes = 8;  // 2^n tap combinations per output element

void check_taps(const ResizeTaps& taps, const Shape& x_shape, const char* what) {
  if (taps.size() != x_shape.size() || taps.size() > kMaxResizeAxes)
    throw Error(std::string(what) + ": " + std::to_string(taps.size()) + " axes of taps for an input " +
                shape_str(x_shape) + " (one per axis, at most 8)");
  for (size_t a = 0; a < taps.size(); ++a) {
    const ResizeAxisTaps& t = taps[a];
    const size_t o = t.i0.size();
    bool ok = t.i1.size() == o && t.w0.size() == o && t.w1.size() == o;
    for (size_t j = 0; ok && j < o; ++j)
      ok = t.i0[j] >= 0 && t.i0[j] < x_shape[a] && t.i1[j] >= 0 && t.i1[j] < x_shape[a];
    if (!ok)
      throw Error(std::string(what) + ": taps of axis " + std::to_string(a) + " are inconsistent or outside [0, " +
                  std::to_string(x_shape[a]) + ")");
  }
}

std::vector<int64_t> row_major_strides(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int d = static_cast<int>(s.size()) - 2; d >= 0; --d) st[d] = st[d + 1] * s[d + 1];
  return st;
}

}  // namespace

Shape resize_output_shape(const ResizeTaps& taps) {
  Shape s;
  for (const ResizeAxisTaps& t : taps) s.push_back(static_cast<int64_t>(t.i0.size()));
  return s;
}

ResizePreimages resize_preimages(const ResizeTaps& taps, const Shape& x_shape) {
  ResizePreimages p;
  const size_t n = taps.size();
  p.offset.resize(n), p.index.resize(n), p.weight.resize(n);
  for (size_t a = 0; a < n; ++a) {
    const ResizeAxisTaps& t = taps[a];
    const int64_t d = x_shape[a];
    std::vector<std::vector<std::pair<int64_t, double>>> lists(static_cast<size_t>(d));
    for (size_t j = 0; j < t.i0.size(); ++j) {  // increasing j, tap 0 before tap 1
      if (t.w0[j] != 0) lists[t.i0[j]].push_back({static_cast<int64_t>(j), t.w0[j]});
      if (t.w1[j] != 0) lists[t.i1[j]].push_back({static_cast<int64_t>(j), t.w1[j]});
    }
    p.offset[a].push_back(0);
    for (const auto& l : lists) {
      for (const auto& [j, w] : l) p.index[a].push_back(j), p.weight[a].push_back(w);
      p.offset[a].push_back(static_cast<int64_t>(p.index[a].size()));
    }
  }
  return p;
}

Tensor resize(const Tensor& x, const ResizeTaps& taps) {
  if (!x.defined()) throw Error("resize: input is undefined");
  expect_float(x, "resize");
  check_taps(taps, x.shape(), "resize");
  return backend_of("resize", x).resize(x, taps);
}

static Tensor cpu_resize(const Tensor& x, const ResizeTaps& taps) {
  const Shape ys = resize_output_shape(taps);
  Tensor y(ys, x.dtype());
  const int n = static_cast<int>(ys.size());
  const std::vector<int64_t> xstride = row_major_strides(x.shape());
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(y.numel(), grain_for_work(int64_t{1} << n), [&](int64_t b, int64_t e) {
      int64_t coord[kMaxResizeAxes] = {};
      for (int64_t k = b; k < e; ++k) {
        int64_t rem = k;
        for (int a = n - 1; a >= 0; --a) coord[a] = rem % ys[a], rem /= ys[a];
        double acc = 0;
        for (int combo = 0; combo < (1 << n); ++combo) {
          double w = 1;
          int64_t off = 0;
          for (int a = 0; a < n && w != 0; ++a) {
            const bool hi = (combo >> a) & 1;
            w *= hi ? taps[a].w1[coord[a]] : taps[a].w0[coord[a]];
            off += (hi ? taps[a].i1[coord[a]] : taps[a].i0[coord[a]]) * xstride[a];
          }
          if (w != 0) acc += w * static_cast<double>(px[off]);
        }
        py[k] = static_cast<T>(acc);
      }
    });
    return 0;
  });
  return y;
}

Tensor resize_backward(const Tensor& gy, const ResizeTaps& taps, const Shape& x_shape) {
  if (!gy.defined()) throw Error("resize_backward: gradient is undefined");
  expect_float(gy, "resize_backward");
  check_taps(taps, x_shape, "resize_backward");
  if (gy.shape() != resize_output_shape(taps))
    throw Error("resize_backward: gradient " + gy.describe() + " does not match the taps' output shape " +
                shape_str(resize_output_shape(taps)));
  return backend_of("resize_backward", gy).resize_backward(gy, taps, x_shape);
}

static Tensor cpu_resize_backward(const Tensor& gy, const ResizeTaps& taps, const Shape& x_shape) {
  const ResizePreimages pre = resize_preimages(taps, x_shape);
  const Shape ys = gy.shape();
  const std::vector<int64_t> ystride = row_major_strides(ys);
  const int n = static_cast<int>(x_shape.size());
  Tensor gx(x_shape, gy.dtype());
  dispatch_float(gy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pg = gy.data<T>();
    T* po = gx.data<T>();
    parallel_for(gx.numel(), grain_for_work(int64_t{1} << n), [&](int64_t b, int64_t e) {
      int64_t coord[kMaxResizeAxes] = {}, begin[kMaxResizeAxes] = {}, end[kMaxResizeAxes] = {}, at[kMaxResizeAxes] = {};
      for (int64_t i = b; i < e; ++i) {
        int64_t rem = i;
        bool empty = false;
        for (int a = n - 1; a >= 0; --a) {
          coord[a] = rem % x_shape[a], rem /= x_shape[a];
          begin[a] = pre.offset[a][coord[a]], end[a] = pre.offset[a][coord[a] + 1], at[a] = begin[a];
          empty = empty || begin[a] == end[a];
        }
        double acc = 0;
        // Odometer over the preimage lists, axis 0 outermost (every list non-empty).
        while (!empty) {
          double w = 1;
          int64_t k = 0;
          for (int a = 0; a < n; ++a) w *= pre.weight[a][at[a]], k += pre.index[a][at[a]] * ystride[a];
          acc += w * static_cast<double>(pg[k]);
          int a = n - 1;
          for (; a >= 0; --a) {
            if (++at[a] < end[a]) break;
            at[a] = begin[a];
          }
          if (a < 0) break;
        }
        po[i] = static_cast<T>(acc);
      }
    });
    return 0;
  });
  return gx;
}

// This file's entries of the CPU table (engine/cpu/backend_cpu.cpp).
void add_cpu_resize(Backend& b) {
  b.resize = cpu_resize;
  b.resize_backward = cpu_resize_backward;
}

}  // namespace xdnn::ops
