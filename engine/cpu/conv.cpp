// 2-D convolution on the CPU: im2col + the packed GEMM (engine/cpu/gemm.h).
//
// Per sample n and group g (Og = O / groups output channels, Cg = C / groups input channels,
// K = Cg·KH·KW, P = OH·OW output positions):
//   col_n        (C·KH·KW, P)   col[(c, i, j), (oh, ow)] = x[c, oh·sh − pt + i·dh, ow·sw − pl + j·dw] (0 outside)
//   forward      y_n[g] (Og, P)  = W[g] (Og, K) · col_n[g] (K, P) + b
//   input grad   dcol[g] (K, P)  = W[g]ᵀ (K, Og) · gy_n[g] (Og, P);  gx_n = col2im(dcol)
//   weight grad  gW[g]ᵀ (K, Og) += col_n[g] (K, P) · gy_n[g]ᵀ (P, Og)  (transposed back at the end)
//
// Bit-identity for identical receptive fields: every output position, border or not, is one column of
// the same GEMM, so it is accumulated by the same micro-kernel in the same k order (the GEMM zero-pads
// edge tiles instead of running a tail path). Max-pool tie routing depends on this (golden README).
//
// Determinism across thread counts: the batch is split over threads (each sample is independent); when
// the batch is smaller than the thread count, the samples run one after another on the parallel GEMM,
// which splits output tiles and never the k sum, so both paths give the same bits. The weight gradient
// is summed over fixed chunks of kChunk samples (in sample order within a chunk), and the chunk partials
// are added in chunk order: the result depends on N, never on the thread count.
#include <algorithm>
#include <vector>

#include "engine/cpu/gemm.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "kernels/cuda_ops.h"

namespace xdnn::ops {
namespace {

constexpr int64_t kChunk = 4;  // samples per weight-gradient partial

struct Dims {
  int64_t N, C, H, W, O, KH, KW, OH, OW, G, Cg, Og, K, P;
};

Dims conv_dims(const Shape& x_shape, const Shape& w_shape, const Conv2dGeometry& g) {
  Dims d{};
  d.N = x_shape[0];
  d.C = x_shape[1];
  d.H = x_shape[2];
  d.W = x_shape[3];
  d.O = w_shape[0];
  d.KH = w_shape[2];
  d.KW = w_shape[3];
  d.G = g.groups;
  d.Cg = d.C / d.G;
  d.Og = d.O / d.G;
  const Shape out = conv2d_output_shape(x_shape, w_shape, g);
  d.OH = out[2];
  d.OW = out[3];
  d.K = d.Cg * d.KH * d.KW;
  d.P = d.OH * d.OW;
  return d;
}

template <class T>
T* scratch(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// Valid output-column range [lo, hi) for kernel column offset `off` (= j·dw − pl): 0 <= ow·s + off < W.
void valid_range(int64_t off, int64_t s, int64_t W, int64_t OW, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + s - 1) / s;
  hi = W - off <= 0 ? 0 : (W - off - 1) / s + 1;
  lo = std::min(lo, OW);
  hi = std::clamp(hi, lo, OW);
}

// x: (C, H, W) of one sample -> col: (C·KH·KW, OH·OW).
template <class T>
void im2col(const T* x, const Dims& d, const Conv2dGeometry& g, T* col) {
  for (int64_t c = 0; c < d.C; ++c)
    for (int64_t i = 0; i < d.KH; ++i)
      for (int64_t j = 0; j < d.KW; ++j) {
        T* row = col + ((c * d.KH + i) * d.KW + j) * d.P;
        const int64_t woff = j * g.dilation_w - g.pad_left;
        int64_t lo, hi;
        valid_range(woff, g.stride_w, d.W, d.OW, lo, hi);
        for (int64_t oh = 0; oh < d.OH; ++oh) {
          T* r = row + oh * d.OW;
          const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
          if (ih < 0 || ih >= d.H) {
            std::fill(r, r + d.OW, T(0));
            continue;
          }
          const T* src = x + (c * d.H + ih) * d.W + woff;
          for (int64_t ow = 0; ow < lo; ++ow) r[ow] = T(0);
          if (g.stride_w == 1)
            std::copy(src + lo, src + hi, r + lo);
          else
            for (int64_t ow = lo; ow < hi; ++ow) r[ow] = src[ow * g.stride_w];
          for (int64_t ow = hi; ow < d.OW; ++ow) r[ow] = T(0);
        }
      }
}

// The transpose of im2col: gx (C, H, W) = Σ over col entries; gx must be zero on entry. Fixed order.
template <class T>
void col2im(const T* col, const Dims& d, const Conv2dGeometry& g, T* gx) {
  for (int64_t c = 0; c < d.C; ++c)
    for (int64_t i = 0; i < d.KH; ++i)
      for (int64_t j = 0; j < d.KW; ++j) {
        const T* row = col + ((c * d.KH + i) * d.KW + j) * d.P;
        const int64_t woff = j * g.dilation_w - g.pad_left;
        int64_t lo, hi;
        valid_range(woff, g.stride_w, d.W, d.OW, lo, hi);
        for (int64_t oh = 0; oh < d.OH; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
          if (ih < 0 || ih >= d.H) continue;
          const T* r = row + oh * d.OW;
          T* dst = gx + (c * d.H + ih) * d.W + woff;
          for (int64_t ow = lo; ow < hi; ++ow) dst[ow * g.stride_w] += r[ow];
        }
      }
}

// A 1x1 convolution with stride 1 and no padding needs no im2col: col_n is x_n itself, (C, H·W).
bool pointwise(const Dims& d, const Conv2dGeometry& g) {
  return d.KH == 1 && d.KW == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 && g.pad_left == 0 &&
         g.pad_bottom == 0 && g.pad_right == 0;
}

// col_n (C·KH·KW, P) of sample x_n (C, H, W): x_n itself for pointwise convolutions, else im2col into buf.
template <class T>
const T* columns(const T* xn, const Dims& d, const Conv2dGeometry& g, std::vector<T>& buf) {
  if (pointwise(d, g)) return xn;
  T* col = scratch(buf, static_cast<size_t>(d.C * d.KH * d.KW * d.P));
  im2col(xn, d, g, col);
  return col;
}

// Runs fn(n, parallel_gemm) for every sample: over threads when the batch can use them, else serially
// with the GEMM itself parallel. Same bits either way (see the file comment).
template <class Fn>
void for_each_sample(int64_t N, const Fn& fn) {
  if (N >= num_threads()) {
    parallel_for(N, 1, [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n) fn(n, false);
    });
  } else {
    for (int64_t n = 0; n < N; ++n) fn(n, true);
  }
}

template <class T>
void gemm_any(bool parallel, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B,
              int64_t ldb, T beta, T* C, int64_t ldc) {
  if (parallel)
    cpu::gemm<T>(ta, tb, M, N, K, T(1), A, lda, B, ldb, beta, C, ldc);
  else
    cpu::gemm_serial<T>(ta, tb, M, N, K, T(1), A, lda, B, ldb, beta, C, ldc);
}

void check_conv_args(const Tensor& x, const Tensor& w, const Conv2dGeometry& g, const char* what) {
  expect_float(x, what);
  expect_same_dtype(x, w, what);
  if (x.ndim() != 4 || w.ndim() != 4)
    throw Error(std::string(what) + ": expected x (N, C, H, W) and w (O, C/groups, KH, KW), got " + x.describe() +
                " and " + w.describe());
  if (g.groups < 1 || x.dim(1) % g.groups != 0 || w.dim(0) % g.groups != 0 || w.dim(1) * g.groups != x.dim(1))
    throw Error(std::string(what) + ": " + std::to_string(g.groups) + " groups do not fit x " + x.describe() +
                " and w " + w.describe());
}

// Transposed weight gradient of samples [n0, n1): gwT[g] (K, Og) = Σ_n col_n[g] (K, P) · gy_n[g]ᵀ (P, Og),
// layout (G, K, Og); beta 0 for the first sample unless accumulating. The transposed product keeps the
// long K axis on the GEMM's row panels and the short Og axis on one column panel (less zero padding).
template <class T>
void weight_grad_samples(const T* px, const T* pgy, const Dims& d, const Conv2dGeometry& g, int64_t n0, int64_t n1,
                         bool accumulate, bool parallel, T* gwT, std::vector<T>& colbuf) {
  for (int64_t n = n0; n < n1; ++n) {
    const T* col = columns(px + n * d.C * d.H * d.W, d, g, colbuf);
    const T* gy = pgy + n * d.O * d.P;
    const T beta = (n == n0 && !accumulate) ? T(0) : T(1);
    for (int64_t gi = 0; gi < d.G; ++gi)
      gemm_any<T>(parallel, false, true, d.K, d.Og, d.P, col + gi * d.K * d.P, d.P, gy + gi * d.Og * d.P, d.P, beta,
                  gwT + gi * d.K * d.Og, d.Og);
  }
}

// gw (G, Og, K) = (or +=) gwT (G, K, Og) transposed per group.
template <class T>
void add_transposed(const T* gwT, const Dims& d, bool accumulate, T* gw) {
  for (int64_t gi = 0; gi < d.G; ++gi)
    for (int64_t o = 0; o < d.Og; ++o)
      for (int64_t k = 0; k < d.K; ++k) {
        const T v = gwT[(gi * d.K + k) * d.Og + o];
        T& dst = gw[(gi * d.Og + o) * d.K + k];
        dst = accumulate ? dst + v : v;
      }
}

}  // namespace

Shape conv2d_output_shape(const Shape& x_shape, const Shape& w_shape, const Conv2dGeometry& g) {
  const int64_t H = x_shape[2] + g.pad_top + g.pad_bottom, W = x_shape[3] + g.pad_left + g.pad_right;
  const int64_t eh = g.dilation_h * (w_shape[2] - 1) + 1, ew = g.dilation_w * (w_shape[3] - 1) + 1;
  if (g.stride_h < 1 || g.stride_w < 1 || g.dilation_h < 1 || g.dilation_w < 1)
    throw Error("conv2d: stride and dilation must be >= 1");
  if (H < eh || W < ew)
    throw Error("conv2d: input " + shape_str(x_shape) + " (padded " + std::to_string(H) + "x" + std::to_string(W) +
                ") is smaller than the dilated kernel " + std::to_string(eh) + "x" + std::to_string(ew));
  return {x_shape[0], w_shape[0], (H - eh) / g.stride_h + 1, (W - ew) / g.stride_w + 1};
}

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dGeometry& g) {
  if constexpr (cuda::kBuilt)
    if (cuda::any_on_cuda(x, w)) return cuda::conv2d_forward(x, w, b, g);
  check_conv_args(x, w, g, "conv2d_forward");
  if (b.defined()) {
    expect_same_dtype(x, b, "conv2d_forward bias");
    expect_shape(b, {w.dim(0)}, "conv2d_forward bias");
  }
  const Dims d = conv_dims(x.shape(), w.shape(), g);
  Tensor y({d.N, d.O, d.OH, d.OW}, x.dtype());
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    const T* pw = w.data<T>();
    const T* pb = b.defined() ? b.data<T>() : nullptr;
    T* py = y.data<T>();
    for_each_sample(d.N, [&](int64_t n, bool parallel) {
      thread_local std::vector<T> colbuf;
      const T* col = columns(px + n * d.C * d.H * d.W, d, g, colbuf);
      T* yn = py + n * d.O * d.P;
      // The bias enters through the GEMM's beta = 1 (y = b + W·col): no extra pass over y.
      if (pb)
        for (int64_t o = 0; o < d.O; ++o) std::fill(yn + o * d.P, yn + (o + 1) * d.P, pb[o]);
      for (int64_t gi = 0; gi < d.G; ++gi)
        gemm_any<T>(parallel, false, false, d.Og, d.P, d.K, pw + gi * d.Og * d.K, d.K, col + gi * d.K * d.P, d.P,
                    pb ? T(1) : T(0), yn + gi * d.Og * d.P, d.P);
    });
    return 0;
  });
  return y;
}

Tensor conv2d_backward_input(const Tensor& gy, const Tensor& w, const Shape& x_shape, const Conv2dGeometry& g) {
  if constexpr (cuda::kBuilt)
    if (cuda::any_on_cuda(gy, w)) return cuda::conv2d_backward_input(gy, w, x_shape, g);
  expect_float(gy, "conv2d_backward_input");
  expect_same_dtype(gy, w, "conv2d_backward_input");
  if (x_shape.size() != 4 || w.ndim() != 4)
    throw Error("conv2d_backward_input: expected 4-D shapes, got x " + shape_str(x_shape) + " and w " + w.describe());
  if (g.groups < 1 || w.dim(0) % g.groups != 0 || w.dim(1) * g.groups != x_shape[1])
    throw Error("conv2d_backward_input: " + std::to_string(g.groups) + " groups do not fit x " + shape_str(x_shape) +
                " and w " + w.describe());
  const Dims d = conv_dims(x_shape, w.shape(), g);
  expect_shape(gy, {d.N, d.O, d.OH, d.OW}, "conv2d_backward_input gradient");
  Tensor gx(x_shape, gy.dtype());
  dispatch_float(gy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pg = gy.data<T>();
    const T* pw = w.data<T>();
    T* pgx = gx.data<T>();
    for_each_sample(d.N, [&](int64_t n, bool parallel) {
      thread_local std::vector<T> colbuf;
      T* gxn = pgx + n * d.C * d.H * d.W;
      // Pointwise convolutions write dcol = gx_n directly (col2im is the identity there).
      const bool direct = pointwise(d, g);
      T* col = direct ? gxn : scratch(colbuf, static_cast<size_t>(d.C * d.KH * d.KW * d.P));
      const T* gn = pg + n * d.O * d.P;
      for (int64_t gi = 0; gi < d.G; ++gi)
        gemm_any<T>(parallel, true, false, d.K, d.P, d.Og, pw + gi * d.Og * d.K, d.K, gn + gi * d.Og * d.P, d.P, T(0),
                    col + gi * d.K * d.P, d.P);
      if (!direct) col2im(col, d, g, gxn);
    });
    return 0;
  });
  return gx;
}

void conv2d_backward_weight(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate, const Conv2dGeometry& g) {
  if constexpr (cuda::kBuilt)
    if (cuda::any_on_cuda(x, gy, gw)) return cuda::conv2d_backward_weight(x, gy, gw, accumulate, g);
  check_conv_args(x, gw, g, "conv2d_backward_weight");
  expect_same_dtype(x, gy, "conv2d_backward_weight");
  const Dims d = conv_dims(x.shape(), gw.shape(), g);
  expect_shape(gy, {d.N, d.O, d.OH, d.OW}, "conv2d_backward_weight gradient");
  const int64_t chunks = (d.N + kChunk - 1) / kChunk, wsize = gw.numel();
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    const T* pg = gy.data<T>();
    T* pgw = gw.data<T>();
    thread_local std::vector<T> partbuf;
    T* parts = scratch(partbuf, static_cast<size_t>(chunks * wsize));
    if (chunks == 1) {  // one partial: the GEMM itself runs in parallel
      thread_local std::vector<T> colbuf;
      weight_grad_samples(px, pg, d, g, 0, d.N, false, true, parts, colbuf);
    } else {
      parallel_for(chunks, 1, [&](int64_t b, int64_t e) {
        thread_local std::vector<T> colbuf;
        for (int64_t c = b; c < e; ++c)
          weight_grad_samples(px, pg, d, g, c * kChunk, std::min(d.N, (c + 1) * kChunk), false, false,
                              parts + c * wsize, colbuf);
      });
      for (int64_t c = 1; c < chunks; ++c) {  // chunk partials added in chunk order
        const T* part = parts + c * wsize;
        for (int64_t i = 0; i < wsize; ++i) parts[i] += part[i];
      }
    }
    add_transposed(parts, d, accumulate, pgw);
    return 0;
  });
}

Tensor conv2d_backward_weight_per_example(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                          const Conv2dGeometry& g) {
  if constexpr (cuda::kBuilt)
    if (cuda::any_on_cuda(x, gy)) return cuda::conv2d_backward_weight_per_example(x, gy, w_shape, g);
  if (w_shape.size() != 4) throw Error("conv2d_backward_weight_per_example: weight shape " + shape_str(w_shape));
  Tensor gw_like(w_shape, x.dtype());
  check_conv_args(x, gw_like, g, "conv2d_backward_weight_per_example");
  expect_same_dtype(x, gy, "conv2d_backward_weight_per_example");
  const Dims d = conv_dims(x.shape(), w_shape, g);
  expect_shape(gy, {d.N, d.O, d.OH, d.OW}, "conv2d_backward_weight_per_example gradient");
  Shape out_shape = w_shape;
  out_shape.insert(out_shape.begin(), d.N);
  Tensor out(out_shape, x.dtype());
  const int64_t wsize = shape_numel(w_shape);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    const T* pg = gy.data<T>();
    T* po = out.data<T>();
    for_each_sample(d.N, [&](int64_t n, bool parallel) {
      thread_local std::vector<T> colbuf, gwTbuf;
      T* gwT = scratch(gwTbuf, static_cast<size_t>(wsize));
      weight_grad_samples(px, pg, d, g, n, n + 1, false, parallel, gwT, colbuf);
      add_transposed(gwT, d, false, po + n * wsize);
    });
    return 0;
  });
  return out;
}

Tensor conv2d_backward_bias(const Tensor& gy, bool per_example) {
  if constexpr (cuda::kBuilt)
    if (cuda::any_on_cuda(gy)) return cuda::conv2d_backward_bias(gy, per_example);
  expect_float(gy, "conv2d_backward_bias");
  if (gy.ndim() != 4) throw Error("conv2d_backward_bias: expected (N, O, OH, OW), got " + gy.describe());
  const int64_t N = gy.dim(0), O = gy.dim(1), P = gy.dim(2) * gy.dim(3);
  Tensor out = per_example ? Tensor({N, O}, gy.dtype()) : Tensor({O}, gy.dtype());
  dispatch_float(gy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pg = gy.data<T>();
    T* po = out.data<T>();
    // Per sample and channel a sum over positions in order; the batch sum adds samples in order.
    // Channels are independent, so they are split over threads.
    parallel_for(O, 1, [&](int64_t ob, int64_t oe) {
      for (int64_t o = ob; o < oe; ++o) {
        T total = T(0);
        for (int64_t n = 0; n < N; ++n) {
          const T* r = pg + (n * O + o) * P;
          T s = T(0);
          for (int64_t p = 0; p < P; ++p) s += r[p];
          if (per_example)
            po[n * O + o] = s;
          else
            total += s;
        }
        if (!per_example) po[o] = total;
      }
    });
    return 0;
  });
  return out;
}

}  // namespace xdnn::ops
