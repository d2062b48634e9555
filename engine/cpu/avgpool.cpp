// 2-D average pooling on the CPU. x: (N, C, H, W) -> y: (N, C, OH, OW), the window and output size
// conventions of pooling.cpp; every (n, c) plane is independent, so planes are split over threads and
// results do not depend on the thread count.
#include <algorithm>

#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/cpu/pool_common.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/parallel.h"

namespace xdnn::ops {

namespace {

// Number of elements the window of (oh, ow) divides by (PyTorch's avg_pool2d conventions).
int64_t window_divisor(const Pool2dGeometry& g, PoolDivisor div, int64_t H, int64_t W, int64_t oh, int64_t ow) {
  if (div == PoolDivisor::Sum) return 1;
  int64_t h0 = oh * g.stride_h - g.pad_top, w0 = ow * g.stride_w - g.pad_left;
  int64_t h1 = std::min(h0 + (g.kernel_h - 1) * g.dilation_h + 1, H + g.pad_bottom);
  int64_t w1 = std::min(w0 + (g.kernel_w - 1) * g.dilation_w + 1, W + g.pad_right);
  if (div == PoolDivisor::WindowIncludingPad) {
    // Window clipped to the padded input (a ceil_mode window hanging past the padding is shorter).
    auto count = [](int64_t a, int64_t b, int64_t d) { return b > a ? (b - a - 1) / d + 1 : 0; };
    return std::max<int64_t>(1, count(h0, h1, g.dilation_h) * count(w0, w1, g.dilation_w));
  }
  int64_t n = 0;
  for (int64_t i = 0; i < g.kernel_h; ++i) {
    const int64_t ih = h0 + i * g.dilation_h;
    if (ih < 0 || ih >= H) continue;
    for (int64_t j = 0; j < g.kernel_w; ++j) {
      const int64_t iw = w0 + j * g.dilation_w;
      if (iw >= 0 && iw < W) ++n;
    }
  }
  return std::max<int64_t>(1, n);
}

}  // namespace

Tensor avgpool2d_forward(const Tensor& x, const Pool2dGeometry& g, PoolDivisor div) {
  check_pool(x, g, "avgpool2d_forward");
  return backend_of("avgpool2d_forward", x).avgpool2d_forward(x, g, div);
}

static Tensor cpu_avgpool2d_forward(const Tensor& x, const Pool2dGeometry& g, PoolDivisor div) {
  const Shape ys = pool2d_output_shape(x.shape(), g);
  const int64_t H = x.dim(2), W = x.dim(3), OH = ys[2], OW = ys[3];
  Tensor y(ys, x.dtype());
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(ys[0] * ys[1], plane_grain(H * W + OH * OW), [&](int64_t b, int64_t e) {
      for (int64_t plane = b; plane < e; ++plane) {
        const T* xp = px + plane * H * W;
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            T s = T(0);
            for (int64_t i = 0; i < g.kernel_h; ++i) {
              const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
              if (ih < 0 || ih >= H) continue;
              for (int64_t j = 0; j < g.kernel_w; ++j) {
                const int64_t iw = ow * g.stride_w - g.pad_left + j * g.dilation_w;
                if (iw >= 0 && iw < W) s += xp[ih * W + iw];
              }
            }
            py[plane * OH * OW + oh * OW + ow] = s / static_cast<T>(window_divisor(g, div, H, W, oh, ow));
          }
      }
    });
    return 0;
  });
  return y;
}

Tensor avgpool2d_backward(const Tensor& gy, const Shape& x_shape, const Pool2dGeometry& g, PoolDivisor div) {
  expect_float(gy, "avgpool2d_backward");
  return backend_of("avgpool2d_backward", gy).avgpool2d_backward(gy, x_shape, g, div);
}

static Tensor cpu_avgpool2d_backward(const Tensor& gy, const Shape& x_shape, const Pool2dGeometry& g, PoolDivisor div) {
  const Shape ys = pool2d_output_shape(x_shape, g);
  expect_shape(gy, ys, "avgpool2d_backward gradient");
  const int64_t H = x_shape[2], W = x_shape[3], OH = ys[2], OW = ys[3];
  Tensor gx(x_shape, gy.dtype());
  dispatch_float(gy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pg = gy.data<T>();
    T* px = gx.data<T>();
    parallel_for(ys[0] * ys[1], plane_grain(H * W + OH * OW), [&](int64_t b, int64_t e) {
      for (int64_t plane = b; plane < e; ++plane) {
        T* xp = px + plane * H * W;
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            const T v = pg[plane * OH * OW + oh * OW + ow] / static_cast<T>(window_divisor(g, div, H, W, oh, ow));
            for (int64_t i = 0; i < g.kernel_h; ++i) {
              const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
              if (ih < 0 || ih >= H) continue;
              for (int64_t j = 0; j < g.kernel_w; ++j) {
                const int64_t iw = ow * g.stride_w - g.pad_left + j * g.dilation_w;
                if (iw >= 0 && iw < W) xp[ih * W + iw] += v;
              }
            }
          }
      }
    });
    return 0;
  });
  return gx;
}

// This file's entries of the CPU table (engine/cpu/backend_cpu.cpp).
void add_cpu_avgpool(Backend& b) {
  b.avgpool2d_forward = cpu_avgpool2d_forward;
  b.avgpool2d_backward = cpu_avgpool2d_backward;
}

}  // namespace xdnn::ops
