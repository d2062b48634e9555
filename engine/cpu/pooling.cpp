// 2-D max pooling on the CPU (average pooling: avgpool.cpp). x: (N, C, H, W) -> y: (N, C, OH, OW);
// every (n, c) plane is independent, so planes are split over threads and results do not depend on the
// thread count.
//
// Window of output (oh, ow): rows oh·sh − pt + i·dh (i < KH), columns ow·sw − pl + j·dw (j < KW).
// Output size (PyTorch / ONNX): OH = ⌊(H + pt + pb − dh(KH−1) − 1)/sh⌋ + 1, or ⌈·⌉ with ceil_mode, where
// a last window that would start beyond the input and the top/left padding is dropped.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/cpu/pool_common.h"
#include "engine/cpu/pool_lanes.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/shape_util.h"

namespace xdnn::ops {
namespace {

// A KH x KW window at flat offset `base` lying fully inside the plane, dilation 1 (the common case,
// unrolled at compile time). Same row-major order and semantics as the general loop.
template <class T, int KH, int KW>
inline void scan_fixed(const T* xp, int64_t base, int64_t W, T& best, int64_t& best_i) {
  best_i = base;
  best = xp[base];
  for (int i = 0; i < KH; ++i)
    for (int j = (i == 0 ? 1 : 0); j < KW; ++j) scan_element(xp, base + i * W + j, best, best_i);
}

// VL outputs starting at column ow of an output row (float only): even/odd lanes of the two input rows
// split by shuffles, the running maximum kept as selects, the arg-max offset built in vector lanes too.
template <int VL>
inline void pool2x2_vector(const float* xp, int64_t row, int64_t W, int64_t ow, float* y, int64_t* arg) {
  using V = typename PoolLanes<VL>::V;
  using I = typename PoolLanes<VL>::I;
  using L = typename PoolLanes<VL>::L;
  constexpr I lane = PoolLanes<VL>::lane;
  V taps[4];
  window_taps<VL>(xp, row, W, ow, taps);
  // Tap t of the window sits at offset (t & 1) + (t >> 1)·W from its corner; `off` tracks the winner's.
  const I tap_off[4] = {I{}, I{} + 1, I{} + static_cast<int32_t>(W), I{} + static_cast<int32_t>(W + 1)};
  V best = taps[0];
  I off = tap_off[0];
  for (int t = 1; t < 4; ++t) {
    const V v = taps[t];
    const I take = (v > best) | ((v != v) & (best == best));
    best = take ? v : best;
    off = take ? tap_off[t] : off;
  }
  std::memcpy(y + ow, &best, sizeof(V));
  const L a = __builtin_convertvector(off + 2 * lane, L) + (row + 2 * ow);
  std::memcpy(arg + ow, &a, sizeof(L));
}

// Four outputs starting at column ow (double): pool2x2_vector's taps, scan order and selects in 64-bit lanes.
inline void pool2x2_vector_f64(const double* xp, int64_t row, int64_t W, int64_t ow, double* y, int64_t* arg) {
  using V = PoolLanesF64::V;
  using L = PoolLanesF64::L;
  V taps[4];
  window_taps_f64(xp, row, W, ow, taps);
  const L tap_off[4] = {L{}, L{} + 1, L{} + W, L{} + (W + 1)};
  V best = taps[0];
  L off = tap_off[0];
  for (int t = 1; t < 4; ++t) {
    const V v = taps[t];
    const L take = (v > best) | ((v != v) & (best == best));
    best = take ? v : best;
    off = take ? tap_off[t] : off;
  }
  std::memcpy(y + ow, &best, sizeof(V));
  const L a = off + 2 * PoolLanesF64::lane + (row + 2 * ow);
  std::memcpy(arg + ow, &a, sizeof(L));
}

// One output row. Rows longer than a vector reuse the last full vector's position for the tail
// (overlapping outputs are computed twice with the same result), so rows of 7 or 14 outputs (the zoo's)
// run entirely in vectors. `next_row_follows`: the plane's next output row is computed after this one and
// at least two more input rows follow, so a row of 4..7 outputs can run as one 8-lane vector whose lanes
// past OW read on into the next input rows and write into the next output row, which then overwrites them.
template <class T>
void pool2x2_row(const T* xp, int64_t row, int64_t W, int64_t OW, T* y, int64_t* arg, bool next_row_follows) {
  if constexpr (std::is_same_v<T, float>) {
    if (W < (int64_t(1) << 30)) {  // lane offsets are 32-bit
      if (OW >= 8) {
        for (int64_t ow = 0; ow + 8 <= OW; ow += 8) pool2x2_vector<8>(xp, row, W, ow, y, arg);
        if (OW % 8 != 0) pool2x2_vector<8>(xp, row, W, OW - 8, y, arg);
        return;
      }
      // 16 input columns from row + W stay inside the next two input rows when W >= 8 (2·OW >= 8).
      if (OW >= 4 && next_row_follows) {
        pool2x2_vector<8>(xp, row, W, 0, y, arg);
        return;
      }
      if (OW >= 4) {
        pool2x2_vector<4>(xp, row, W, 0, y, arg);
        pool2x2_vector<4>(xp, row, W, OW - 4, y, arg);
        return;
      }
    }
  }
  if constexpr (std::is_same_v<T, double>) {
    if (OW >= 4) {  // whole rows in 4-lane vectors, the last one overlapping the one before
      for (int64_t ow = 0; ow + 4 <= OW; ow += 4) pool2x2_vector_f64(xp, row, W, ow, y, arg);
      if (OW % 4 != 0) pool2x2_vector_f64(xp, row, W, OW - 4, y, arg);
      return;
    }
  }
  for (int64_t ow = 0; ow < OW; ++ow) pool2x2_one(xp, row + 2 * ow, W, y[ow], arg[ow]);
}

// VL = 8 outputs from column ow of a 3x3 stride-2 window row (float; ResNet's stem max-pool), every window
// inside the plane: input rows r0, r0 + W, r0 + 2W from column c0 = 2·ow − pad_left, which must satisfy
// c0 + 18 <= W (the shifted loads for tap column 2 read 16 values from c0 + 2). Taps in scan order (row i,
// then column j: the even, odd, then shifted-even elements of the row), the first-maximum / first-NaN
// rule as selects, so the outputs and arg-maxes are those of scan_fixed<3, 3>, bit for bit.
constexpr int64_t kPool3x3s2Columns = 18;  // input columns pool3x3s2_vector reads from c0
inline void pool3x3s2_vector(const float* xp, int64_t r0, int64_t W, int64_t c0, float* y, int64_t* arg) {
  using Lanes = PoolLanes<8>;
  using V = Lanes::V;
  using I = Lanes::I;
  using L = Lanes::L;
  V best{};
  I off{};
  for (int i = 0; i < 3; ++i) {
    const float* r = xp + r0 + i * W + c0;
    V a0, a1, b0, b1;
    std::memcpy(&a0, r, sizeof(V));
    std::memcpy(&a1, r + 8, sizeof(V));
    std::memcpy(&b0, r + 2, sizeof(V));
    std::memcpy(&b1, r + 10, sizeof(V));
    const V taps[3] = {Lanes::even(a0, a1), Lanes::odd(a0, a1), Lanes::even(b0, b1)};
    for (int j = 0; j < 3; ++j) {
      const I tap_off = I{} + static_cast<int32_t>(i * W + j);
      if (i == 0 && j == 0) {
        best = taps[0];
        off = tap_off;
        continue;
      }
      const V v = taps[j];
      const I take = (v > best) | ((v != v) & (best == best));
      best = take ? v : best;
      off = take ? tap_off : off;
    }
  }
  std::memcpy(y, &best, sizeof(V));
  const L a = __builtin_convertvector(off + 2 * Lanes::lane, L) + (r0 + c0);
  std::memcpy(arg, &a, sizeof(L));
}

// pool3x3s2_vector for n <= 8 outputs whose windows overhang the plane (ResNet's stem pool has padding 1: the
// first column, the top and bottom rows) or that end a row: their 3 x 18 input window is copied with −∞ for
// every position outside the plane, so that a padding tap never beats an input value in the first-maximum /
// first-NaN rule (−∞ is not NaN, and a later input value ties or loses to nothing it should not). A lane
// whose maximum is −∞ (every input tap is −∞, or none is inside) may hold a padding tap's offset and is
// recomputed by scalar(k). Otherwise the lane's value and first arg-max are the scan's, bit for bit. At
// 64x64 input the stem pool's rows have 16 outputs, and before this every one but eight per row went
// through the scalar window loop: the pool was 5 % of ResNet-18's forward (3x64x64, batch 16).
template <class Scalar>
inline void pool3x3s2_bordered(const float* xp, int64_t H, int64_t W, int64_t h0, int64_t c0, int64_t n, float* y,
                               int64_t* arg, const Scalar& scalar) {
  constexpr int64_t BW = kPool3x3s2Columns;
  constexpr float minus_inf = -std::numeric_limits<float>::infinity();
  float window[3 * BW];
  const int64_t ja = std::clamp<int64_t>(-c0, 0, BW), jb = std::clamp<int64_t>(W - c0, ja, BW);  // inside: [ja, jb)
  for (int64_t i = 0; i < 3; ++i) {
    float* row = window + i * BW;
    const int64_t r = h0 + i;
    if (r < 0 || r >= H) {
      std::fill(row, row + BW, minus_inf);
      continue;
    }
    std::fill(row, row + ja, minus_inf);
    std::copy(xp + r * W + c0 + ja, xp + r * W + c0 + jb, row + ja);
    std::fill(row + jb, row + BW, minus_inf);
  }
  float best[8];
  int64_t at[8];
  pool3x3s2_vector(window, 0, BW, 0, best, at);
  for (int64_t k = 0; k < n; ++k) {
    if (best[k] == minus_inf) {
      scalar(k);
      continue;
    }
    y[k] = best[k];
    arg[k] = (h0 + at[k] / BW) * W + c0 + at[k] % BW;
  }
}

// Window taps i in [window_begin, window_end) land inside [0, size): 0 <= start + i·dil < size.
// (Integer division is slow; dilation 1, the common case, avoids it.)
int64_t window_begin(int64_t start, int64_t dil) {
  if (start >= 0) return 0;
  return dil == 1 ? -start : (-start + dil - 1) / dil;
}
int64_t window_end(int64_t start, int64_t dil, int64_t k, int64_t size) {
  if (start >= size) return 0;
  return std::min(k, dil == 1 ? size - start : (size - start - 1) / dil + 1);
}

}  // namespace

Shape pool2d_output_shape(const Shape& x_shape, const Pool2dGeometry& g) {
  if (x_shape.size() != 4) throw Error("pool2d: expected input (N, C, H, W), got " + shape_str(x_shape));
  const int64_t OH = window_output_size(x_shape[2], g.pad_top, g.pad_bottom, g.kernel_h, g.stride_h, g.dilation_h,
                                        g.ceil_mode, "pool2d");
  const int64_t OW = window_output_size(x_shape[3], g.pad_left, g.pad_right, g.kernel_w, g.stride_w, g.dilation_w,
                                        g.ceil_mode, "pool2d");
  if (OH < 1 || OW < 1)
    throw Error("pool2d: input " + shape_str(x_shape) + " is smaller than the " + std::to_string(g.kernel_h) + "x" +
                std::to_string(g.kernel_w) + " window");
  const Shape y = {x_shape[0], x_shape[1], OH, OW};
  checked_numel(y, "pool2d output");
  return y;
}

// The arg-max is the FIRST element in row-major window order equal to the window's maximum: the running
// best is replaced only by a strictly greater value (golden README, "Gradients through MaxPool: ties").
// Padding acts as −∞, i.e. padded positions are never candidates.
Tensor maxpool2d_forward(const Tensor& x, const Pool2dGeometry& geometry, Tensor& argmax) {
  check_pool(x, geometry, "maxpool2d_forward");
  return backend_of("maxpool2d_forward", x).maxpool2d_forward(x, geometry, argmax);
}

static Tensor cpu_maxpool2d_forward(const Tensor& x, const Pool2dGeometry& geometry, Tensor& argmax) {
  const Pool2dGeometry g = geometry;  // a local copy: stores through int64_t* cannot alias it
  const Shape ys = pool2d_output_shape(x.shape(), g);
  const int64_t H = x.dim(2), W = x.dim(3), OH = ys[2], OW = ys[3];
  Tensor y = Tensor::empty(ys, x.dtype());  // every output and arg-max is written below
  argmax = Tensor::empty(ys, DType::I64);
  int64_t* pa = argmax.data<int64_t>();
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const bool dil1 = g.dilation_h == 1 && g.dilation_w == 1;
    const bool fast2x2 = g.kernel_h == 2 && g.kernel_w == 2 && g.stride_h == 2 && g.stride_w == 2 && dil1 &&
                         g.pad_top == 0 && g.pad_left == 0 && g.pad_bottom == 0 && g.pad_right == 0 && 2 * OH <= H &&
                         2 * OW <= W;  // every window inside the plane (no ceil_mode overhang)
    if (fast2x2) {
      parallel_for(ys[0] * ys[1], plane_grain(H * W + OH * OW), [&](int64_t b, int64_t e) {
        for (int64_t plane = b; plane < e; ++plane)
          for (int64_t oh = 0; oh < OH; ++oh)
            pool2x2_row(px + plane * H * W, 2 * oh * W, W, OW, py + (plane * OH + oh) * OW, pa + (plane * OH + oh) * OW,
                        oh + 1 < OH);
      });
      return 0;
    }
    // 3x3 stride-2 windows (ResNet's stem), float: interior runs of 8 outputs in vectors (pool3x3s2_vector).
    const bool vec3x3s2 = std::is_same_v<T, float> && g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 2 &&
                          g.stride_w == 2 && dil1 && W < (int64_t(1) << 29);  // i·W + j in int32 lanes
    parallel_for(ys[0] * ys[1], plane_grain(H * W + OH * OW), [&](int64_t b, int64_t e) {
      for (int64_t plane = b; plane < e; ++plane) {
        const T* xp = px + plane * H * W;
        T* yp = py + plane * OH * OW;
        int64_t* ap = pa + plane * OH * OW;
        for (int64_t oh = 0; oh < OH; ++oh) {
          const int64_t h0 = oh * g.stride_h - g.pad_top;
          const int64_t i0 = window_begin(h0, g.dilation_h), i1 = window_end(h0, g.dilation_h, g.kernel_h, H);
          auto one = [&](int64_t ow) {
            const int64_t w0 = ow * g.stride_w - g.pad_left;
            const int64_t j0 = window_begin(w0, g.dilation_w), j1 = window_end(w0, g.dilation_w, g.kernel_w, W);
            int64_t best_i = -1;
            T best = -std::numeric_limits<T>::infinity();  // a window entirely in the padding yields −∞
            const bool inside = dil1 && i0 == 0 && i1 == g.kernel_h && j0 == 0 && j1 == g.kernel_w;
            if (inside && g.kernel_h == 2 && g.kernel_w == 2) {
              scan_fixed<T, 2, 2>(xp, h0 * W + w0, W, best, best_i);
            } else if (inside && g.kernel_h == 3 && g.kernel_w == 3) {
              scan_fixed<T, 3, 3>(xp, h0 * W + w0, W, best, best_i);
            } else {
              if (i0 < i1 && j0 < j1) {
                best_i = (h0 + i0 * g.dilation_h) * W + w0 + j0 * g.dilation_w;
                best = xp[best_i];
              }
              for (int64_t i = i0; i < i1; ++i) {
                const int64_t row = (h0 + i * g.dilation_h) * W + w0;
                for (int64_t j = j0; j < j1; ++j) scan_element(xp, row + j * g.dilation_w, best, best_i);
              }
            }
            yp[oh * OW + ow] = best;
            ap[oh * OW + ow] = best_i;
          };
          int64_t ow = 0;
          if constexpr (std::is_same_v<T, float>) {
            // 8 outputs at a time: read in place where their windows lie inside the plane, else through a
            // bordered copy of their input window.
            for (; vec3x3s2 && ow < OW; ow += 8) {
              const int64_t c0 = 2 * ow - g.pad_left;
              if (i0 == 0 && i1 == 3 && c0 >= 0 && c0 + kPool3x3s2Columns <= W && ow + 8 <= OW)
                pool3x3s2_vector(xp, h0 * W, W, c0, yp + oh * OW + ow, ap + oh * OW + ow);
              else
                pool3x3s2_bordered(xp, H, W, h0, c0, std::min<int64_t>(8, OW - ow), yp + oh * OW + ow,
                                   ap + oh * OW + ow, [&](int64_t k) { one(ow + k); });
            }
          }
          for (; ow < OW; ++ow) one(ow);
        }
      }
    });
    return 0;
  });
  return y;
}

namespace {

// One plane's gradient when every output (oh, ow) has its arg-max inside its own 2x2 block (rows 2·oh,
// 2·oh + 1, columns 2·ow, 2·ow + 1): the blocks are disjoint, so each input element receives at most one
// gradient and the plane is written in one pass, no zero fill and no scatter (the 2x2 stride-2 pooling of
// the zoo always qualifies). Returns false, leaving the plane half-written, when some arg-max lies
// elsewhere (any other geometry); the caller then redoes the plane with the general scatter.
// VL outputs of row oh starting at column ow (float only): the same selects as below, in vector lanes,
// the upper and lower row's even/odd elements interleaved back by shuffles. ANDs into `inside_lanes` a
// lane mask of whether each lane's arg-max was inside its block (reduced once per plane, not per call).
template <int VL>
inline void backward_2x2_vector(const float* gp, const int64_t* ap, int64_t W, int64_t oh, int64_t OW, int64_t ow,
                                float* xp, typename PoolLanes<VL>::I& inside_lanes) {
  using V = typename PoolLanes<VL>::V;
  using I = typename PoolLanes<VL>::I;
  using L = typename PoolLanes<VL>::L;
  constexpr I lane = PoolLanes<VL>::lane;
  L a;
  std::memcpy(&a, ap + oh * OW + ow, sizeof(L));
  V v;
  std::memcpy(&v, gp + oh * OW + ow, sizeof(V));
  v = V{} + v;  // as the scatter's 0 + g: a −0 gradient becomes +0
  // The arg-max's offset from its block's corner 2·oh·W + 2·(ow + lane): 0, 1, W or W + 1 when inside.
  const I off = __builtin_convertvector(a - (2 * oh * W + 2 * ow) - __builtin_convertvector(2 * lane, L), I);
  const I m0 = off == 0, m1 = off == 1, m2 = off == static_cast<int32_t>(W), m3 = off == static_cast<int32_t>(W + 1);
  const V zero = V{};
  const V e0 = m0 ? v : zero, o0 = m1 ? v : zero, e1 = m2 ? v : zero, o1 = m3 ? v : zero;
  float* r0 = xp + 2 * oh * W + 2 * ow;
  float* r1 = r0 + W;
  using Lanes = PoolLanes<VL>;
  const V out[4] = {Lanes::interleave_lo(e0, o0), Lanes::interleave_hi(e0, o0), Lanes::interleave_lo(e1, o1),
                    Lanes::interleave_hi(e1, o1)};
  std::memcpy(r0, &out[0], sizeof(V));
  std::memcpy(r0 + VL, &out[1], sizeof(V));
  std::memcpy(r1, &out[2], sizeof(V));
  std::memcpy(r1 + VL, &out[3], sizeof(V));
  inside_lanes &= m0 | m1 | m2 | m3;
}

// Four outputs of row oh starting at column ow (double): backward_2x2_vector in 64-bit lanes.
inline void backward_2x2_vector_f64(const double* gp, const int64_t* ap, int64_t W, int64_t oh, int64_t OW, int64_t ow,
                                    double* xp, PoolLanesF64::L& inside_lanes) {
  using V = PoolLanesF64::V;
  using L = PoolLanesF64::L;
  L a;
  std::memcpy(&a, ap + oh * OW + ow, sizeof(L));
  V v;
  std::memcpy(&v, gp + oh * OW + ow, sizeof(V));
  v = V{} + v;  // as the scatter's 0 + g: a −0 gradient becomes +0
  const L off = a - (2 * oh * W + 2 * ow) - 2 * PoolLanesF64::lane;
  const L m0 = off == 0, m1 = off == 1, m2 = off == W, m3 = off == W + 1;
  const V zero = V{};
  const V e0 = m0 ? v : zero, o0 = m1 ? v : zero, e1 = m2 ? v : zero, o1 = m3 ? v : zero;
  double* r0 = xp + 2 * oh * W + 2 * ow;
  double* r1 = r0 + W;
  const V out[4] = {PoolLanesF64::interleave_lo(e0, o0), PoolLanesF64::interleave_hi(e0, o0),
                    PoolLanesF64::interleave_lo(e1, o1), PoolLanesF64::interleave_hi(e1, o1)};
  std::memcpy(r0, &out[0], sizeof(V));
  std::memcpy(r0 + 4, &out[1], sizeof(V));
  std::memcpy(r1, &out[2], sizeof(V));
  std::memcpy(r1 + 4, &out[3], sizeof(V));
  inside_lanes &= m0 | m1 | m2 | m3;
}

template <class I, int VL>
bool all_lanes(const I& m) {
  bool all = true;
  for (int l = 0; l < VL; ++l) all = all & (m[l] != 0);
  return all;
}

template <class T>
bool backward_plane_2x2(const T* gp, const int64_t* ap, int64_t H, int64_t W, int64_t OH, int64_t OW, T* xp) {
  if (2 * OH > H || 2 * OW > W || H > 2 * OH + 1 || W > 2 * OW + 1) return false;
  bool inside = true;
  // Lane masks of the vector path (all ones: every arg-max so far inside its block).
  [[maybe_unused]] typename PoolLanes<8>::I inside8 = typename PoolLanes<8>::I{} - 1;
  [[maybe_unused]] typename PoolLanes<4>::I inside4 = typename PoolLanes<4>::I{} - 1;
  [[maybe_unused]] PoolLanesF64::L inside_f64 = PoolLanesF64::L{} - 1;
  for (int64_t oh = 0; oh < OH; ++oh) {
    T* r0 = xp + 2 * oh * W;
    T* r1 = r0 + W;
    int64_t ow_begin = 0;
    if constexpr (std::is_same_v<T, float>) {
      // Whole rows in vectors, the last one overlapping the one before (same values written twice).
      if (H * W < (int64_t(1) << 30) && OW >= 4) {  // arg-max offsets fit 32-bit lanes
        if (OW >= 8) {
          for (int64_t ow = 0; ow + 8 <= OW; ow += 8) backward_2x2_vector<8>(gp, ap, W, oh, OW, ow, xp, inside8);
          if (OW % 8 != 0) backward_2x2_vector<8>(gp, ap, W, oh, OW, OW - 8, xp, inside8);
        } else {
          backward_2x2_vector<4>(gp, ap, W, oh, OW, 0, xp, inside4);
          backward_2x2_vector<4>(gp, ap, W, oh, OW, OW - 4, xp, inside4);
        }
        ow_begin = OW;
      }
    }
    if constexpr (std::is_same_v<T, double>) {
      if (OW >= 4) {
        for (int64_t ow = 0; ow + 4 <= OW; ow += 4) backward_2x2_vector_f64(gp, ap, W, oh, OW, ow, xp, inside_f64);
        if (OW % 4 != 0) backward_2x2_vector_f64(gp, ap, W, oh, OW, OW - 4, xp, inside_f64);
        ow_begin = OW;
      }
    }
    for (int64_t ow = ow_begin; ow < OW; ++ow) {
      const int64_t base = 2 * oh * W + 2 * ow, a = ap[oh * OW + ow];
      const T v = T(0) + gp[oh * OW + ow];  // as the scatter's 0 + g: a −0 gradient becomes +0
      const bool m0 = a == base, m1 = a == base + 1, m2 = a == base + W, m3 = a == base + W + 1;
      r0[2 * ow] = m0 ? v : T(0);
      r0[2 * ow + 1] = m1 ? v : T(0);
      r1[2 * ow] = m2 ? v : T(0);
      r1[2 * ow + 1] = m3 ? v : T(0);
      inside = inside & (m0 | m1 | m2 | m3);
    }
    if (W > 2 * OW) r0[W - 1] = r1[W - 1] = T(0);  // odd width: the last column is in no window
  }
  if (H > 2 * OH) std::fill(xp + (H - 1) * W, xp + H * W, T(0));  // odd height: the last row
  if constexpr (std::is_same_v<T, float>)
    inside =
        inside && all_lanes<typename PoolLanes<8>::I, 8>(inside8) && all_lanes<typename PoolLanes<4>::I, 4>(inside4);
  if constexpr (std::is_same_v<T, double>) inside = inside && all_lanes<PoolLanesF64::L, 4>(inside_f64);
  return inside;
}

}  // namespace

Tensor maxpool2d_backward(const Tensor& gy, const Tensor& argmax, const Shape& x_shape) {
  expect_float(gy, "maxpool2d_backward");
  if (argmax.dtype() != DType::I64 || argmax.shape() != gy.shape() || x_shape.size() != 4)
    throw Error("maxpool2d_backward: gradient " + gy.describe() + " does not match arg-max " + argmax.describe());
  return backend_of("maxpool2d_backward", gy, argmax).maxpool2d_backward(gy, argmax, x_shape);
}

static Tensor cpu_maxpool2d_backward(const Tensor& gy, const Tensor& argmax, const Shape& x_shape) {
  Tensor gx = Tensor::empty(x_shape, gy.dtype());  // every plane written below
  const int64_t planes = x_shape[0] * x_shape[1], H = x_shape[2], W = x_shape[3], OH = gy.dim(2), OW = gy.dim(3);
  const int64_t HW = H * W, OHW = OH * OW;
  const int64_t* pa = argmax.data<int64_t>();
  dispatch_float(gy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pg = gy.data<T>();
    T* px = gx.data<T>();
    parallel_for(planes, plane_grain(H * W + OH * OW), [&](int64_t b, int64_t e) {
      for (int64_t plane = b; plane < e; ++plane) {
        T* xp = px + plane * HW;
        const T* gp = pg + plane * OHW;
        const int64_t* ap = pa + plane * OHW;
        if (backward_plane_2x2(gp, ap, H, W, OH, OW, xp)) continue;
        std::fill(xp, xp + HW, T(0));  // general windows: zero, then route each gradient to its arg-max
        for (int64_t o = 0; o < OHW; ++o)
          if (ap[o] >= 0) xp[ap[o]] += gp[o];
      }
    });
    return 0;
  });
  return gx;
}

// This file's entries of the CPU table (engine/cpu/backend_cpu.cpp).
void add_cpu_pooling(Backend& b) {
  b.maxpool2d_forward = cpu_maxpool2d_forward;
  b.maxpool2d_backward = cpu_maxpool2d_backward;
}

}  // namespace xdnn::ops
