// Kernel bodies of 2-D max and average pooling (kernels/pooling.cu). x: (N, C, H, W) seen as planes of
// H·W; y: (planes, OH, OW). Window of (oh, ow): rows oh·sh − pt + i·dh, columns ow·sw − pl + j·dw.
//
// Backward passes never use atomics: average pooling is a gather (each input element sums, in increasing
// (oh, ow) order, the windows that contain it — the order in which engine/cpu/pooling.cpp scatters), max
// pooling a per-plane serial scatter. Both give the same bits on every run.
#pragma once
#include "engine/ops.h"
#include "kernels/common_body.h"

namespace xdnn::cuda {

struct PoolDims {
  int64_t H, W, OH, OW;
};

// Max over the window of output idx (over planes·OH·OW) with the first-maximum rule: the running best is
// replaced only by a strictly greater value or by the first NaN. A window entirely in the padding gives
// −∞ and arg-max −1. argmax holds the flat index h·W + w in the plane.
template <class T>
struct MaxPoolBody {
  const T* x;
  T* y;
  int64_t* argmax;
  PoolDims d;
  ops::Pool2dGeometry g;
  XDNN_HOST_DEVICE void operator()(int64_t idx) const {
    const int64_t ow = idx % d.OW, oh = (idx / d.OW) % d.OH, plane = idx / (d.OW * d.OH);
    const T* xp = x + plane * d.H * d.W;
    const int64_t h0 = oh * g.stride_h - g.pad_top, w0 = ow * g.stride_w - g.pad_left;
    T best = -T(INFINITY);
    int64_t best_i = -1;
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      const int64_t h = h0 + i * g.dilation_h;
      if (h < 0 || h >= d.H) continue;
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        const int64_t w = w0 + j * g.dilation_w;
        if (w < 0 || w >= d.W) continue;
        const T v = xp[h * d.W + w];
        if (best_i < 0 || v > best || (v != v && best == best)) best = v, best_i = h * d.W + w;
      }
    }
    y[idx] = best;
    argmax[idx] = best_i;
  }
};

// Output index along one axis whose window covers input coordinate h through tap i (taps from k−1 down
// to 0 give increasing outputs), or −1 when tap i does not land on h.
XDNN_HOST_DEVICE inline int64_t covering_output(int64_t h, int64_t i, int64_t pad, int64_t stride, int64_t dil,
                                                int64_t out) {
  const int64_t t = h + pad - i * dil;
  if (t < 0 || t % stride != 0 || t / stride >= out) return -1;
  return t / stride;
}

// Max-pool backward, one thread per (n, c) plane: gx_plane = 0, then gy routed to its arg-max in output
// order — the CPU op's order, so the same bits. The ops:: signature carries the arg-max but not the
// geometry, so a per-input gather (which must enumerate the windows) is not available; planes are
// independent, so this is still race-free and deterministic. idx over planes.
template <class T>
struct MaxPoolBackwardBody {
  const T* gy;
  const int64_t* argmax;
  T* gx;
  int64_t HW, OHW;
  XDNN_HOST_DEVICE void operator()(int64_t plane) const {
    T* gp = gx + plane * HW;
    for (int64_t i = 0; i < HW; ++i) gp[i] = T(0);
    for (int64_t o = plane * OHW; o < (plane + 1) * OHW; ++o)
      if (argmax[o] >= 0) gp[argmax[o]] += gy[o];
  }
};

// What the window of (oh, ow) divides by (PyTorch's avg_pool2d conventions, as engine/cpu/pooling.cpp).
XDNN_HOST_DEVICE inline int64_t pool_divisor(const ops::Pool2dGeometry& g, ops::PoolDivisor div, const PoolDims& d,
                                             int64_t oh, int64_t ow) {
  if (div == ops::PoolDivisor::Sum) return 1;
  const int64_t h0 = oh * g.stride_h - g.pad_top, w0 = ow * g.stride_w - g.pad_left;
  int64_t nh = 0, nw = 0;
  if (div == ops::PoolDivisor::WindowIncludingPad) {  // window clipped to the padded input
    const int64_t h1 = kmin(h0 + (g.kernel_h - 1) * g.dilation_h + 1, d.H + g.pad_bottom);
    const int64_t w1 = kmin(w0 + (g.kernel_w - 1) * g.dilation_w + 1, d.W + g.pad_right);
    nh = h1 > h0 ? (h1 - h0 - 1) / g.dilation_h + 1 : 0;
    nw = w1 > w0 ? (w1 - w0 - 1) / g.dilation_w + 1 : 0;
  } else {  // real input elements only
    for (int64_t i = 0; i < g.kernel_h; ++i) nh += (h0 + i * g.dilation_h >= 0 && h0 + i * g.dilation_h < d.H);
    for (int64_t j = 0; j < g.kernel_w; ++j) nw += (w0 + j * g.dilation_w >= 0 && w0 + j * g.dilation_w < d.W);
  }
  return nh * nw > 1 ? nh * nw : 1;
}

// Average (or sum) over the window of output idx, summed in row-major window order.
template <class T>
struct AvgPoolBody {
  const T* x;
  T* y;
  PoolDims d;
  ops::Pool2dGeometry g;
  ops::PoolDivisor div;
  XDNN_HOST_DEVICE void operator()(int64_t idx) const {
    const int64_t ow = idx % d.OW, oh = (idx / d.OW) % d.OH, plane = idx / (d.OW * d.OH);
    const T* xp = x + plane * d.H * d.W;
    T s = T(0);
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      const int64_t h = oh * g.stride_h - g.pad_top + i * g.dilation_h;
      if (h < 0 || h >= d.H) continue;
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        const int64_t w = ow * g.stride_w - g.pad_left + j * g.dilation_w;
        if (w >= 0 && w < d.W) s += xp[h * d.W + w];
      }
    }
    y[idx] = s / static_cast<T>(pool_divisor(g, div, d, oh, ow));
  }
};

// gx at idx (over planes·H·W) = Σ over the windows containing it of gy / divisor, in (oh, ow) order.
template <class T>
struct AvgPoolBackwardBody {
  const T* gy;
  T* gx;
  PoolDims d;
  ops::Pool2dGeometry g;
  ops::PoolDivisor div;
  XDNN_HOST_DEVICE void operator()(int64_t idx) const {
    const int64_t w = idx % d.W, h = (idx / d.W) % d.H, plane = idx / (d.W * d.H);
    const T* gp = gy + plane * d.OH * d.OW;
    T s = T(0);
    for (int64_t i = g.kernel_h - 1; i >= 0; --i) {
      const int64_t oh = covering_output(h, i, g.pad_top, g.stride_h, g.dilation_h, d.OH);
      if (oh < 0) continue;
      for (int64_t j = g.kernel_w - 1; j >= 0; --j) {
        const int64_t ow = covering_output(w, j, g.pad_left, g.stride_w, g.dilation_w, d.OW);
        if (ow >= 0) s += gp[oh * d.OW + ow] / static_cast<T>(pool_divisor(g, div, d, oh, ow));
      }
    }
    gx[idx] = s;
  }
};

}  // namespace xdnn::cuda
