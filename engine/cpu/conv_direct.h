// Direct convolution kernels for convolutions with few taps per output (C/groups·KH·KW ≤ kDirectTaps: the
// first layer of an image CNN, one input channel, 3x3), stride 1, dilation 1, one group. Included by
// engine/cpu/conv.cpp only (anonymous namespace, like gemm_driver.h).
//
// Why: with K = 9 taps the im2col + GEMM route moves far more data than it multiplies. The forward
// writes 9 columns per output position and packs them again, the weight gradient also gathers the output
// gradient into chunk rows, and the GEMM's tiles are mostly padding (8 output channels, 9 rows of K).
// Here every sample is read once from a zero-bordered copy of its planes.
//
//   forward          y[n, o, oh, ow] = Σ_k w[o, k] · xp[c, oh + i, ow + j] (+ b[o]), k = (c, i, j) in order:
//                    one fused multiply-add per k starting from zero, then + b — the arithmetic the GEMM
//                    route does for K ≤ its k-block (gemm_driver.h), so both give the same bits, and every
//                    output position is the same sequence (identical receptive fields, identical bits).
//   weight gradient  gw[o, k] = Σ_n Σ_(oh, ow) gy[n, o, oh, ow] · xp[c, oh + i, ow + j]: per sample, VL lane
//                    sums over the vectors of each row (a row's tail in its last VL positions, the lanes
//                    already counted masked to zero), lanes added in order; samples added in order. Per-sample work is
//                    independent of the thread split, so the result depends on the shapes alone.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "engine/ops.h"
#include "engine/parallel.h"

namespace xdnn::ops {
namespace {

constexpr int64_t kDirectTaps = 9;  // taps per output (C/groups·KH·KW) up to which the direct kernels run
constexpr int64_t kDirectOut = 8;   // output channels per register block of the direct forward

// Whether the direct kernels apply: shapes with rows of at least one vector (VL lanes of T).
template <class T>
bool direct_conv_applies(int64_t C, int64_t KH, int64_t KW, int64_t OW, const Conv2dGeometry& g) {
  constexpr int64_t VL = 32 / sizeof(T);
  return g.groups == 1 && g.stride_h == 1 && g.stride_w == 1 && g.dilation_h == 1 && g.dilation_w == 1 &&
         C * KH * KW <= kDirectTaps && OW >= VL;
}

// Sample n's planes (C, H, W) copied into xp (C, Hp, Wp) with the zero border of the padding.
template <class T>
void padded_planes(const T* x, int64_t C, int64_t H, int64_t W, const Conv2dGeometry& g, T* xp) {
  const int64_t Hp = H + g.pad_top + g.pad_bottom, Wp = W + g.pad_left + g.pad_right;
  std::fill(xp, xp + C * Hp * Wp, T(0));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t h = 0; h < H; ++h)
      std::copy(x + (c * H + h) * W, x + (c * H + h + 1) * W, xp + (c * Hp + h + g.pad_top) * Wp + g.pad_left);
}

// Offsets of the K = C·KH·KW taps in the padded planes (C, Hp, Wp), k = (c, i, j) in order.
inline std::vector<int64_t> tap_offsets(int64_t C, int64_t KH, int64_t KW, int64_t Hp, int64_t Wp) {
  std::vector<int64_t> off;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < KH; ++i)
      for (int64_t j = 0; j < KW; ++j) off.push_back((c * Hp + i) * Wp + j);
  return off;
}

// Calls fn(std::integral_constant<int, K>) for the tap count K in [1, kDirectTaps]: the kernels keep
// their K accumulators in registers only with K known at compile time.
template <class Fn>
void with_tap_count(int64_t K, const Fn& fn) {
  switch (K) {
    case 1:
      return fn(std::integral_constant<int, 1>{});
    case 2:
      return fn(std::integral_constant<int, 2>{});
    case 3:
      return fn(std::integral_constant<int, 3>{});
    case 4:
      return fn(std::integral_constant<int, 4>{});
    case 5:
      return fn(std::integral_constant<int, 5>{});
    case 6:
      return fn(std::integral_constant<int, 6>{});
    case 7:
      return fn(std::integral_constant<int, 7>{});
    case 8:
      return fn(std::integral_constant<int, 8>{});
    default:
      return fn(std::integral_constant<int, 9>{});
  }
}
static_assert(kDirectTaps == 9, "with_tap_count covers 1..9 taps");

// y (N, O, OH, OW) for x (N, C, H, W), w (O, C, KH, KW), b (O) or null. Vectors of VL output positions
// along a row, kDirectOut output channels at a time (weights of channels past O read as zero, their
// results not stored); the last vector of a row overlaps the one before when VL does not divide OW (the
// same values written twice).
// VecBytes: 32 (the build's AVX2), or 64 from engine/cpu/conv_direct_avx512.cpp on AVX-512 CPUs, which
// needs OW ≥ its 16 lanes; every output is the same fma sequence in both, so the bits are the same.
template <class T, int VecBytes = 32>
void direct_conv_forward(const T* px, const T* pw, const T* pb, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O,
                         int64_t KH, int64_t KW, int64_t OH, int64_t OW, const Conv2dGeometry& g, T* py) {
  typedef T V __attribute__((vector_size(VecBytes), aligned(sizeof(T)), may_alias));
  constexpr int64_t VL = VecBytes / sizeof(T);
  const int64_t Hp = H + g.pad_top + g.pad_bottom, Wp = W + g.pad_left + g.pad_right;
  const std::vector<int64_t> off = tap_offsets(C, KH, KW, Hp, Wp);
  with_tap_count(C * KH * KW, [&](auto tap_count) {
    constexpr int K = decltype(tap_count)::value;
    parallel_for(N, 4, [&](int64_t nb, int64_t ne) {
      thread_local std::vector<T> planebuf;
      if (planebuf.size() < static_cast<size_t>(C * Hp * Wp)) planebuf.resize(static_cast<size_t>(C * Hp * Wp));
      T* xp = planebuf.data();
      int64_t offk[K];  // a local copy: the stores below cannot alias it
      std::copy(off.begin(), off.begin() + K, offk);
      for (int64_t n = nb; n < ne; ++n) {
        padded_planes(px + n * C * H * W, C, H, W, g, xp);
        for (int64_t o0 = 0; o0 < O; o0 += kDirectOut) {
          const int64_t ob = std::min(kDirectOut, O - o0);
          T wb[kDirectOut][K];
          for (int64_t o = 0; o < kDirectOut; ++o)
            for (int k = 0; k < K; ++k) wb[o][k] = o < ob ? pw[(o0 + o) * K + k] : T(0);
          for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow0 = 0; ow0 < OW; ow0 += VL) {
              const int64_t ow = std::min(ow0, OW - VL);
              const T* base = xp + oh * Wp + ow;
              V acc[kDirectOut];
              for (int64_t o = 0; o < kDirectOut; ++o) acc[o] = V{};
              for (int k = 0; k < K; ++k) {
                const V xv = *reinterpret_cast<const V*>(base + offk[k]);
                for (int64_t o = 0; o < kDirectOut; ++o) acc[o] += (wb[o][k] - V{}) * xv;  // w broadcast
              }
              for (int64_t o = 0; o < ob; ++o) {
                V v = acc[o];
                if (pb) v = v + pb[o0 + o];
                *reinterpret_cast<V*>(py + ((n * O + o0 + o) * OH + oh) * OW + ow) = v;
              }
            }
        }
      }
    });
  });
}

// gw (O, K) = (or +=) Σ_n gy_n ⋆ x_n, in the order of the file comment; with pgb, also pgb (O) += Σ_n Σ_p gy_n
// (lane sums of the same gradient vectors, lanes added in order, samples in order).
template <class T>
void direct_conv_backward_weight(const T* px, const T* pg, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O,
                                 int64_t KH, int64_t KW, int64_t OH, int64_t OW, const Conv2dGeometry& g,
                                 bool accumulate, T* pgw, T* pgb) {
  typedef T V __attribute__((vector_size(32), aligned(sizeof(T)), may_alias));
  constexpr int64_t VL = 32 / sizeof(T);
  const int64_t Hp = H + g.pad_top + g.pad_bottom, Wp = W + g.pad_left + g.pad_right, KK = C * KH * KW;
  // Positions [0, full) of a row in whole vectors; the rest, [full, OW), in the last VL lanes of the row
  // with the lanes before `full` masked to zero (gradient and input, so that 0·0 adds nothing, even where
  // x is infinite).
  using M = decltype(V{} < V{});
  const int64_t full = OW / VL * VL, rest = OW - full;
  M last_lanes;
  for (int64_t l = 0; l < VL; ++l) last_lanes[l] = l >= VL - rest ? -1 : 0;
  const std::vector<int64_t> off = tap_offsets(C, KH, KW, Hp, Wp);
  thread_local std::vector<T> partbuf;  // (N, O, KK) weight partials, then (N, O) bias partials
  if (partbuf.size() < static_cast<size_t>(N * O * (KK + 1))) partbuf.resize(static_cast<size_t>(N * O * (KK + 1)));
  T* parts = partbuf.data();
  T* bparts = parts + N * O * KK;
  with_tap_count(KK, [&](auto tap_count) {
    constexpr int K = decltype(tap_count)::value;
    parallel_for(N, 4, [&](int64_t nb, int64_t ne) {
      thread_local std::vector<T> planebuf;
      if (planebuf.size() < static_cast<size_t>(C * Hp * Wp)) planebuf.resize(static_cast<size_t>(C * Hp * Wp));
      T* xp = planebuf.data();
      int64_t offk[K];  // a local copy: the stores below cannot alias it
      std::copy(off.begin(), off.begin() + K, offk);
      for (int64_t n = nb; n < ne; ++n) {
        padded_planes(px + n * C * H * W, C, H, W, g, xp);
        for (int64_t o = 0; o < O; ++o) {
          const T* gp = pg + (n * O + o) * OH * OW;
          V acc[K];
          V bacc = V{};  // the bias gradient's lane sums
          for (int k = 0; k < K; ++k) acc[k] = V{};
          for (int64_t oh = 0; oh < OH; ++oh) {
            const T* grow = gp + oh * OW;
            const T* base = xp + oh * Wp;
            for (int64_t ow = 0; ow < full; ow += VL) {
              const V gv = *reinterpret_cast<const V*>(grow + ow);
              bacc += gv;
              for (int k = 0; k < K; ++k) acc[k] += gv * *reinterpret_cast<const V*>(base + offk[k] + ow);
            }
            if (rest > 0) {
              const int64_t ow = OW - VL;
              const V gv = last_lanes ? *reinterpret_cast<const V*>(grow + ow) : V{};
              bacc += gv;
              for (int k = 0; k < K; ++k)
                acc[k] += gv * (last_lanes ? *reinterpret_cast<const V*>(base + offk[k] + ow) : V{});
            }
          }
          T* part = parts + (n * O + o) * K;
          for (int k = 0; k < K; ++k) {  // lanes added in order
            T s = T(0);
            for (int64_t l = 0; l < VL; ++l) s += acc[k][l];
            part[k] = s;
          }
          T sb = T(0);
          for (int64_t l = 0; l < VL; ++l) sb += bacc[l];
          bparts[n * O + o] = sb;
        }
      }
    });
  });
  for (int64_t e = 0; e < O * KK; ++e) {  // samples added in order
    T s = T(0);
    for (int64_t n = 0; n < N; ++n) s += parts[n * O * KK + e];
    pgw[e] = accumulate ? pgw[e] + s : s;
  }
  for (int64_t o = 0; o < O && pgb; ++o) {  // gb += Σ_n, samples in order
    T s = T(0);
    for (int64_t n = 0; n < N; ++n) s += bparts[n * O + o];
    pgb[o] += s;
  }
}

}  // namespace
}  // namespace xdnn::ops
