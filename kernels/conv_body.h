// Kernel bodies of the convolution (kernels/conv.cu): im2col, the gather form of col2im, the bias fill
// and the bias gradient. The matrix products between them are cuBLAS calls.
//
// Notation as engine/cpu/conv.cpp: x (N, C, H, W), w (O, C/G, KH, KW), y (N, O, OH, OW), col rows
// r = (c, i, j) (R = C·KH·KW of them, K = R/G per group), columns p = (oh, ow) (P = OH·OW).
#pragma once
#include "engine/ops.h"
#include "kernels/common_body.h"

namespace xdnn::cuda {

struct ConvDims {
  int64_t N, C, H, W, O, KH, KW, OH, OW, G, Cg, Og, K, P, R;
};

// Columns of samples [n0, n0 + nb) of x:
//   sample_major: col (nb, R, P)  (forward, input gradient, per-example weight gradient: batched GEMMs)
//   otherwise:    col (R, nb, P)  (summed weight gradient: one GEMM whose inner axis runs over nb·P)
// col[r, p] = x[n, c, oh·sh − pt + i·dh, ow·sw − pl + j·dw], 0 in the padding.
template <class T>
struct Im2colBody {
  const T* x;
  T* col;
  ConvDims d;
  ops::Conv2dGeometry g;
  int64_t n0, nb;
  bool sample_major;
  XDNN_HOST_DEVICE void operator()(int64_t idx) const {
    const int64_t p = idx % d.P;
    const int64_t r = sample_major ? (idx / d.P) % d.R : idx / (d.P * nb);
    const int64_t n = n0 + (sample_major ? idx / (d.P * d.R) : (idx / d.P) % nb);
    const int64_t j = r % d.KW, i = (r / d.KW) % d.KH, c = r / (d.KW * d.KH);
    const int64_t h = (p / d.OW) * g.stride_h - g.pad_top + i * g.dilation_h;
    const int64_t w = (p % d.OW) * g.stride_w - g.pad_left + j * g.dilation_w;
    const bool inside = h >= 0 && h < d.H && w >= 0 && w < d.W;
    col[idx] = inside ? x[((n * d.C + c) * d.H + h) * d.W + w] : T(0);
  }
};

// gx[n, c, h, w] (idx over (nb, C, H, W)) = Σ over the (i, j) whose window position lands on (h, w) of
// col_n[(c, i, j), (oh, ow)], col sample-major (nb, R, P). The gather form of col2im: each output is one
// thread's sum in (i, j) order — the order engine/cpu/conv.cpp's col2im adds in — so no atomics and the
// same bits on every run.
template <class T>
struct Col2imBody {
  const T* col;
  T* gx;
  ConvDims d;
  ops::Conv2dGeometry g;
  XDNN_HOST_DEVICE void operator()(int64_t idx) const {
    const int64_t w = idx % d.W, h = (idx / d.W) % d.H, c = (idx / (d.W * d.H)) % d.C, n = idx / (d.W * d.H * d.C);
    const T* coln = col + n * d.R * d.P;
    T s = T(0);
    for (int64_t i = 0; i < d.KH; ++i) {
      const int64_t th = h + g.pad_top - i * g.dilation_h;  // = oh·sh when (i, oh) covers h
      if (th < 0) break;                                    // th decreases with i
      if (th % g.stride_h != 0 || th / g.stride_h >= d.OH) continue;
      const int64_t oh = th / g.stride_h;
      for (int64_t j = 0; j < d.KW; ++j) {
        const int64_t tw = w + g.pad_left - j * g.dilation_w;
        if (tw < 0) break;
        if (tw % g.stride_w != 0 || tw / g.stride_w >= d.OW) continue;
        s += coln[((c * d.KH + i) * d.KW + j) * d.P + oh * d.OW + tw / g.stride_w];
      }
    }
    gx[idx] = s;
  }
};

// y[n, o, p] = b[o] before the GEMM adds W·col with beta = 1; idx over (N, O, P).
template <class T>
struct BiasFillBody {
  const T* b;
  T* y;
  int64_t O, P;
  XDNN_HOST_DEVICE void operator()(int64_t idx) const { y[idx] = b[(idx / P) % O]; }
};

// Bias gradient stage 1: part[n, o] = Σ_p gy[n, o, p] in p order; idx over (N, O).
template <class T>
struct BiasGradSampleBody {
  const T* gy;
  T* part;
  int64_t P;
  XDNN_HOST_DEVICE void operator()(int64_t idx) const {
    T s = T(0);
    for (int64_t p = 0; p < P; ++p) s += gy[idx * P + p];
    part[idx] = s;
  }
};

// Bias gradient stage 2: gb[o] = Σ_n part[n, o] in n order (the CPU op's order); idx over (O).
template <class T>
struct BiasGradTotalBody {
  const T* part;
  T* gb;
  int64_t N, O;
  XDNN_HOST_DEVICE void operator()(int64_t o) const {
    T s = T(0);
    for (int64_t n = 0; n < N; ++n) s += part[n * O + o];
    gb[o] = s;
  }
};

}  // namespace xdnn::cuda
