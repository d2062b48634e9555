// Depthwise convolution kernels: the formulas, shapes and summation orders are in conv_depthwise.h.
//
// Every pass works on whole rows: for an output row oh and a tap (i, j) the input row ih = oh·sh − pt + i·dh
// is read (or written) at iw = ow·sw + j·dw − pl for the output positions ow whose iw lies inside the row,
// one multiply-add per position. With stride 1 these are contiguous runs the compiler vectorises; no
// im2col buffer and no zero-bordered copy are built.
#include "engine/cpu/conv_depthwise.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/cpu/scratch.h"
#include "engine/parallel.h"

namespace xdnn::cpu {
namespace {

// Output positions [lo, hi) whose input index pos·stride + off lies in [0, in), out positions in all.
void valid_positions(int64_t off, int64_t stride, int64_t in, int64_t out, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  hi = in - 1 - off < 0 ? 0 : std::min(out, (in - 1 - off) / stride + 1);
  lo = std::min(lo, hi);
}

// Register-blocked rows for stride 1 and dilation 1 (MobileNet's stride-1 3x3 layers): each output element is
// still the sum of its valid taps from +0, one multiply-add per tap in the loops' order, as the row passes
// below compute it (so the same bits), but interior positions keep VL sums in a register across all the taps
// instead of reading and writing the output row once per tap (9 passes over it for a 3x3 kernel).
constexpr int64_t kMaxRegisterTaps = 49;

// One output row of either pass, out[q] = Σ over rows t ascending and taps j ascending of wrows[t][j] ·
// srcs[t][q + base + dir·j], the terms whose index lies in [0, src_len) only:
//   forward         dir = +1, base = −pl: out = y row oh (OW), srcs = the valid input rows i (W);
//   input gradient  dir = −1, base = +pl: out = gx row ih (W), srcs = the gy rows oh ascending whose tap row
//                   i = ih + pt − oh exists (OW) — the order in which the row passes below add them.
// Positions whose taps all lie inside [0, src_len) in vectors, the rest one by one in the same order.
template <class T>
void ordered_row_sum(const T* const* srcs, const T* const* wrows, int64_t nrows, int64_t KW, int64_t src_len,
                     int64_t out_len, int64_t base, int64_t dir, T* out) {
  constexpr int64_t VL = 32 / sizeof(T);
  typedef T V __attribute__((vector_size(32)));
  // Every j inside: q + base + dir·j in [0, src_len) for j = 0 and j = KW − 1.
  const int64_t first = dir > 0 ? -base : KW - 1 - base, last = dir > 0 ? src_len - KW + 1 - base : src_len - base;
  const int64_t in_lo = std::clamp<int64_t>(first, 0, out_len), in_hi = std::clamp<int64_t>(last, in_lo, out_len);
  auto scalar = [&](int64_t q) {
    T a = T(0);
    for (int64_t t = 0; t < nrows; ++t)
      for (int64_t j = 0; j < KW; ++j) {
        const int64_t at = q + base + dir * j;
        if (at >= 0 && at < src_len) a += wrows[t][j] * srcs[t][at];
      }
    out[q] = a;
  };
  int64_t q = 0;
  for (; q < in_lo; ++q) scalar(q);
  for (; q + VL <= in_hi; q += VL) {
    V a = V{};
    for (int64_t t = 0; t < nrows; ++t)
      for (int64_t j = 0; j < KW; ++j) {
        V sv;
        std::memcpy(&sv, srcs[t] + q + base + dir * j, sizeof(V));
        a += wrows[t][j] * sv;
      }
    std::memcpy(out + q, &a, sizeof(V));
  }
  for (; q < out_len; ++q) scalar(q);
}

// acc[p] += a · row[p·stride + off] for p in [lo, hi).
template <class T>
inline void row_axpy(T* __restrict acc, T a, const T* __restrict row, int64_t off, int64_t stride, int64_t lo,
                     int64_t hi) {
  if (stride == 1) {
    for (int64_t p = lo; p < hi; ++p) acc[p] += a * row[p + off];
  } else {
    for (int64_t p = lo; p < hi; ++p) acc[p] += a * row[p * stride + off];
  }
}

// row[p·stride + off] += a · src[p] for p in [lo, hi) (the transpose of row_axpy).
template <class T>
inline void row_scatter(T* __restrict row, T a, const T* __restrict src, int64_t off, int64_t stride, int64_t lo,
                        int64_t hi) {
  if (stride == 1) {
    for (int64_t p = lo; p < hi; ++p) row[p + off] += a * src[p];
  } else {
    for (int64_t p = lo; p < hi; ++p) row[p * stride + off] += a * src[p];
  }
}

}  // namespace

template <class T>
void depthwise_forward(const T* x, const T* w, const T* b, const DepthwiseShape& s, const ops::Conv2dGeometry& g,
                       T* y) {
  const int64_t O = s.C * s.M, KK = s.KH * s.KW, P = s.OH * s.OW;
  const bool register_rows = g.stride_w == 1 && g.dilation_w == 1 && s.KH <= kMaxRegisterTaps;
  parallel_for(s.N * O, grain_for_work(P * KK), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t n = plane / O, o = plane % O, c = o / s.M;
      const T* xp = x + (n * s.C + c) * s.H * s.W;
      const T* wo = w + o * KK;
      for (int64_t oh = 0; oh < s.OH; ++oh) {
        T* acc = y + plane * P + oh * s.OW;  // (OW): the output row, accumulated in place
        if (register_rows) {
          const T* xrows[kMaxRegisterTaps];
          const T* wrows[kMaxRegisterTaps];
          int64_t nrows = 0;
          for (int64_t i = 0; i < s.KH; ++i) {
            const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
            if (ih < 0 || ih >= s.H) continue;
            xrows[nrows] = xp + ih * s.W;
            wrows[nrows++] = wo + i * s.KW;
          }
          ordered_row_sum(xrows, wrows, nrows, s.KW, s.W, s.OW, -g.pad_left, 1, acc);
          if (b)
            for (int64_t ow = 0; ow < s.OW; ++ow) acc[ow] += b[o];
          continue;
        }
        std::fill(acc, acc + s.OW, T(0));
        for (int64_t i = 0; i < s.KH; ++i) {
          const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
          if (ih < 0 || ih >= s.H) continue;
          for (int64_t j = 0; j < s.KW; ++j) {
            const int64_t off = j * g.dilation_w - g.pad_left;
            int64_t lo, hi;
            valid_positions(off, g.stride_w, s.W, s.OW, lo, hi);
            row_axpy(acc, wo[i * s.KW + j], xp + ih * s.W, off, g.stride_w, lo, hi);
          }
        }
        if (b)
          for (int64_t ow = 0; ow < s.OW; ++ow) acc[ow] += b[o];
      }
    }
  });
}

template <class T>
void depthwise_backward_input(const T* gy, const T* w, const DepthwiseShape& s, const ops::Conv2dGeometry& g, T* gx) {
  const int64_t O = s.C * s.M, KK = s.KH * s.KW, P = s.OH * s.OW;
  const bool register_rows = s.M == 1 && g.stride_h == 1 && g.stride_w == 1 && g.dilation_h == 1 && g.dilation_w == 1 &&
                             s.KH <= kMaxRegisterTaps;
  parallel_for(s.N * s.C, grain_for_work(s.M * P * KK), [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {  // plane = (n, c) of gx
      const int64_t n = plane / s.C, c = plane % s.C;
      T* gxp = gx + plane * s.H * s.W;
      if (register_rows) {  // M = 1, stride 1, dilation 1: each gx row from the gy rows whose taps reach it
        const T* gyp = gy + plane * P;
        const T* wo = w + c * KK;
        for (int64_t ih = 0; ih < s.H; ++ih) {
          const T* grows[kMaxRegisterTaps];
          const T* wrows[kMaxRegisterTaps];
          int64_t nrows = 0;
          for (int64_t oh = std::max<int64_t>(0, ih + g.pad_top - s.KH + 1); oh < s.OH && oh <= ih + g.pad_top; ++oh) {
            grows[nrows] = gyp + oh * s.OW;
            wrows[nrows++] = wo + (ih + g.pad_top - oh) * s.KW;
          }
          ordered_row_sum(grows, wrows, nrows, s.KW, s.OW, s.W, g.pad_left, -1, gxp + ih * s.W);
        }
        continue;
      }
      std::fill(gxp, gxp + s.H * s.W, T(0));
      for (int64_t m = 0; m < s.M; ++m) {
        const int64_t o = c * s.M + m;
        const T* gyp = gy + (n * O + o) * P;
        const T* wo = w + o * KK;
        for (int64_t oh = 0; oh < s.OH; ++oh)
          for (int64_t i = 0; i < s.KH; ++i) {
            const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
            if (ih < 0 || ih >= s.H) continue;
            for (int64_t j = 0; j < s.KW; ++j) {
              const int64_t off = j * g.dilation_w - g.pad_left;
              int64_t lo, hi;
              valid_positions(off, g.stride_w, s.W, s.OW, lo, hi);
              row_scatter(gxp + ih * s.W, wo[i * s.KW + j], gyp + oh * s.OW, off, g.stride_w, lo, hi);
            }
          }
      }
    }
  });
}

template <class T>
void depthwise_backward_weight(const T* x, const T* gy, const DepthwiseShape& s, const ops::Conv2dGeometry& g,
                               bool accumulate, bool per_example, T* gw, T* gb) {
  const int64_t O = s.C * s.M, KK = s.KH * s.KW, P = s.OH * s.OW;
  // One item per output channel (summing every sample), or per (sample, channel) for per-example gradients.
  const int64_t items = per_example ? s.N * O : O;
  const int64_t samples_per_item = per_example ? 1 : s.N;
  parallel_for(items, grain_for_work(samples_per_item * P * KK), [&](int64_t begin, int64_t end) {
    // acc (KH·KW + 1, OW): per tap, and last for the bias, the sum over samples and rows of each position.
    thread_local std::vector<T> accbuf;
    grow_scratch(accbuf, static_cast<size_t>((KK + 1) * s.OW), "depthwise weight-gradient buffer");
    T* acc = accbuf.data();
    for (int64_t item = begin; item < end; ++item) {
      const int64_t o = item % O, c = o / s.M, n0 = per_example ? item / O : 0;
      std::fill(acc, acc + (KK + 1) * s.OW, T(0));
      for (int64_t n = n0; n < n0 + samples_per_item; ++n) {
        const T* xp = x + (n * s.C + c) * s.H * s.W;
        const T* gyp = gy + (n * O + o) * P;
        for (int64_t oh = 0; oh < s.OH; ++oh) {
          const T* gyr = gyp + oh * s.OW;
          if (gb)
            for (int64_t ow = 0; ow < s.OW; ++ow) acc[KK * s.OW + ow] += gyr[ow];
          for (int64_t i = 0; i < s.KH; ++i) {
            const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
            if (ih < 0 || ih >= s.H) continue;
            for (int64_t j = 0; j < s.KW; ++j) {
              const int64_t off = j * g.dilation_w - g.pad_left;
              int64_t lo, hi;
              valid_positions(off, g.stride_w, s.W, s.OW, lo, hi);
              T* a = acc + (i * s.KW + j) * s.OW;
              const T* xr = xp + ih * s.W;
              if (g.stride_w == 1)
                for (int64_t ow = lo; ow < hi; ++ow) a[ow] += gyr[ow] * xr[ow + off];
              else
                for (int64_t ow = lo; ow < hi; ++ow) a[ow] += gyr[ow] * xr[ow * g.stride_w + off];
            }
          }
        }
      }
      T* dst = gw + item * KK;
      for (int64_t k = 0; k < KK; ++k) {
        T sum = T(0);
        for (int64_t ow = 0; ow < s.OW; ++ow) sum += acc[k * s.OW + ow];
        dst[k] = accumulate ? dst[k] + sum : sum;
      }
      if (gb) {
        T sum = T(0);
        for (int64_t ow = 0; ow < s.OW; ++ow) sum += acc[KK * s.OW + ow];
        gb[o] += sum;
      }
    }
  });
}

template void depthwise_forward<float>(const float*, const float*, const float*, const DepthwiseShape&,
                                       const ops::Conv2dGeometry&, float*);
template void depthwise_forward<double>(const double*, const double*, const double*, const DepthwiseShape&,
                                        const ops::Conv2dGeometry&, double*);
template void depthwise_backward_input<float>(const float*, const float*, const DepthwiseShape&,
                                              const ops::Conv2dGeometry&, float*);
template void depthwise_backward_input<double>(const double*, const double*, const DepthwiseShape&,
                                               const ops::Conv2dGeometry&, double*);
template void depthwise_backward_weight<float>(const float*, const float*, const DepthwiseShape&,
                                               const ops::Conv2dGeometry&, bool, bool, float*, float*);
template void depthwise_backward_weight<double>(const double*, const double*, const DepthwiseShape&,
                                                const ops::Conv2dGeometry&, bool, bool, double*, double*);

}  // namespace xdnn::cpu
