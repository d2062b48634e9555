// 2-D max pooling for training, 2x2 stride-2 windows only: the arg-max kept as tap codes instead of flat
// indices; and for inference, the maxima alone (pooling.cpp has the general max pooling; the window scans
// all of them use are in pool_lanes.h).
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "engine/cpu/pool_common.h"
#include "engine/cpu/pool_lanes.h"
#include "engine/cpu/pool_values.h"
#include "engine/ops.h"
#include "engine/ops_pool_values.h"
#include "engine/parallel.h"
#include "engine/shape_util.h"

namespace xdnn::ops {

// ---- 2x2 max-pool for training with tap codes --------------------------------------------------------------
// The arg-max as the winning tap (i, j) of the window, 2 bits per output, one uint64 word per output row:
// bit ow = j, bit 32 + ow = i of output ow. 1/32 of the int64 flat indices' bytes, written by the forward
// pass and read back by the backward pass of every training step.

namespace {

// Bit l = [mask lane l] for the VL int32 lanes of a mask (one movemask instruction where the ISA has it).
template <int VL>
inline uint64_t lane_bits(const typename PoolLanes<VL>::I& m) {
#if defined(__AVX__)
  typedef float F8 __attribute__((vector_size(32)));
  typedef float F4 __attribute__((vector_size(16)));
  if constexpr (VL == 8) return static_cast<uint32_t>(__builtin_ia32_movmskps256(__builtin_bit_cast(F8, m)));
  if constexpr (VL == 4) return static_cast<uint32_t>(__builtin_ia32_movmskps(__builtin_bit_cast(F4, m)));
#endif
  uint64_t bits = 0;
  for (int l = 0; l < VL; ++l) bits |= static_cast<uint64_t>(m[l] != 0) << l;
  return bits;
}

// VL outputs of a row starting at column ow: y, and the row word's bits of these outputs (the same taps,
// scan order and selects as pool2x2_vector, tracking the tap index instead of its offset).
template <int VL>
inline uint64_t pool2x2_vector_codes(const float* xp, int64_t row, int64_t W, int64_t ow, float* y) {
  using V = typename PoolLanes<VL>::V;
  using I = typename PoolLanes<VL>::I;
  V taps[4];
  window_taps<VL>(xp, row, W, ow, taps);
  V best = taps[0];
  I tap = I{};
  for (int t = 1; t < 4; ++t) {
    const V v = taps[t];
    const I take = (v > best) | ((v != v) & (best == best));
    best = take ? v : best;
    tap = take ? I{} + t : tap;
  }
  std::memcpy(y + ow, &best, sizeof(V));
  return (lane_bits<VL>((tap & 1) != 0) | lane_bits<VL>((tap & 2) != 0) << 32) << ow;
}

// Scalar twin for outputs [ow_begin, OW) of a row (rows of fewer than 4 outputs).
inline uint64_t pool2x2_codes_scalar(const float* xp, int64_t row, int64_t W, int64_t ow_begin, int64_t OW, float* y) {
  uint64_t word = 0;
  for (int64_t ow = ow_begin; ow < OW; ++ow) {
    float best;
    int64_t best_i;
    pool2x2_one(xp, row + 2 * ow, W, best, best_i);
    y[ow] = best;
    const int64_t off = best_i - (row + 2 * ow);  // 0, 1, W or W + 1: column bit off & 1 only when off < W
    word |= static_cast<uint64_t>(off == 1 || off == W + 1) << ow | static_cast<uint64_t>(off >= W) << (32 + ow);
  }
  return word;
}

// The gradient of VL outputs of a row starting at column ow, routed by their codes into the row pair r0, r1
// (the selects and shuffles of backward_2x2_vector).
template <int VL>
inline void backward_codes_vector(const float* gr, uint64_t word, int64_t ow, float* r0, float* r1) {
  using V = typename PoolLanes<VL>::V;
  using I = typename PoolLanes<VL>::I;
  constexpr I lane = PoolLanes<VL>::lane;
  V v;
  std::memcpy(&v, gr + ow, sizeof(V));
  v = V{} + v;  // as the scatter's 0 + g: a −0 gradient becomes +0
  const I bit = (I{} + 1) << lane;
  const I column = ((I{} + static_cast<int32_t>((word >> ow) & 0xFF)) & bit) != 0;
  const I row = ((I{} + static_cast<int32_t>((word >> (32 + ow)) & 0xFF)) & bit) != 0;
  const I code = (column & 1) | (row & 2);
  const V zero = V{};
  const V e0 = code == 0 ? v : zero, o0 = code == 1 ? v : zero, e1 = code == 2 ? v : zero, o1 = code == 3 ? v : zero;
  using Lanes = PoolLanes<VL>;
  const V out[4] = {Lanes::interleave_lo(e0, o0), Lanes::interleave_hi(e0, o0), Lanes::interleave_lo(e1, o1),
                    Lanes::interleave_hi(e1, o1)};
  std::memcpy(r0 + 2 * ow, &out[0], sizeof(V));
  std::memcpy(r0 + 2 * ow + VL, &out[1], sizeof(V));
  std::memcpy(r1 + 2 * ow, &out[2], sizeof(V));
  std::memcpy(r1 + 2 * ow + VL, &out[3], sizeof(V));
}

}  // namespace

bool maxpool2d_tap_codes_apply(const Tensor& x, const Pool2dGeometry& g) {
  if (!x.defined() || x.device() != Device::CPU || x.dtype() != DType::F32 || x.ndim() != 4) return false;
  const int64_t H = x.dim(2), W = x.dim(3), OH = H / 2, OW = W / 2;
  return g.kernel_h == 2 && g.kernel_w == 2 && g.stride_h == 2 && g.stride_w == 2 && g.dilation_h == 1 &&
         g.dilation_w == 1 && g.pad_top == 0 && g.pad_left == 0 && g.pad_bottom == 0 && g.pad_right == 0 &&
         !g.ceil_mode && OH >= 1 && OW >= 1 && OW <= 32 && W < (int64_t(1) << 30);
}

Tensor maxpool2d_forward_tap_codes(const Tensor& x, const Pool2dGeometry& g, Tensor& codes) {
  if (!maxpool2d_tap_codes_apply(x, g))
    throw Error(
        "maxpool2d_forward_tap_codes: needs float32 (N, C, H, W) on the CPU, a 2x2 stride-2 window "
        "without padding, dilation or ceil_mode and at most 32 outputs per row; got " +
        (x.defined() ? x.describe() : std::string("an undefined tensor")));
  const int64_t H = x.dim(2), W = x.dim(3), OH = H / 2, OW = W / 2, planes = x.dim(0) * x.dim(1);
  Tensor y = Tensor::empty({x.dim(0), x.dim(1), OH, OW}, DType::F32);  // every output and word written
  codes = Tensor::empty({planes * OH}, DType::I64);
  const float* px = x.data<float>();
  float* py = y.data<float>();
  uint64_t* pc = reinterpret_cast<uint64_t*>(codes.data<int64_t>());
  parallel_for(planes, plane_grain(H * W + OH * OW), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane)
      for (int64_t oh = 0; oh < OH; ++oh) {
        const float* xp = px + plane * H * W;
        float* yr = py + (plane * OH + oh) * OW;
        const int64_t row = 2 * oh * W;
        uint64_t word = 0;
        if (OW >= 8) {  // whole vectors, the last overlapping the one before (same codes OR-ed twice)
          for (int64_t ow = 0; ow + 8 <= OW; ow += 8) word |= pool2x2_vector_codes<8>(xp, row, W, ow, yr);
          if (OW % 8 != 0) word |= pool2x2_vector_codes<8>(xp, row, W, OW - 8, yr);
        } else if (OW >= 4 && oh + 1 < OH) {  // one 8-lane vector spilling into the next row (pool2x2_row)
          const uint64_t own = (uint64_t(1) << OW) - 1;
          word = pool2x2_vector_codes<8>(xp, row, W, 0, yr) & (own | own << 32);
        } else if (OW >= 4) {
          word = pool2x2_vector_codes<4>(xp, row, W, 0, yr) | pool2x2_vector_codes<4>(xp, row, W, OW - 4, yr);
        } else {
          word = pool2x2_codes_scalar(xp, row, W, 0, OW, yr);
        }
        pc[plane * OH + oh] = word;
      }
  });
  return y;
}

Tensor maxpool2d_backward_tap_codes(const Tensor& gy, const Tensor& codes, const Shape& x_shape) {
  if (x_shape.size() != 4 || gy.dtype() != DType::F32 || gy.ndim() != 4 || gy.dim(0) != x_shape[0] ||
      gy.dim(1) != x_shape[1] || gy.dim(2) != x_shape[2] / 2 || gy.dim(3) != x_shape[3] / 2 || gy.dim(3) > 32 ||
      !codes.defined() || codes.dtype() != DType::I64 || codes.numel() != gy.dim(0) * gy.dim(1) * gy.dim(2))
    throw Error("maxpool2d_backward_tap_codes: gradient " + gy.describe() + " and codes " +
                (codes.defined() ? codes.describe() : std::string("undefined")) + " do not fit input " +
                shape_str(x_shape));
  Tensor gx = Tensor::empty(x_shape, DType::F32);  // every element written below
  const int64_t planes = x_shape[0] * x_shape[1], H = x_shape[2], W = x_shape[3], OH = gy.dim(2), OW = gy.dim(3);
  const float* pg = gy.data<float>();
  const uint64_t* pc = reinterpret_cast<const uint64_t*>(codes.data<int64_t>());
  float* px = gx.data<float>();
  parallel_for(planes, plane_grain(H * W + OH * OW), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      float* xp = px + plane * H * W;
      for (int64_t oh = 0; oh < OH; ++oh) {
        const float* gr = pg + (plane * OH + oh) * OW;
        const uint64_t word = pc[plane * OH + oh];
        float* r0 = xp + 2 * oh * W;
        float* r1 = r0 + W;
        int64_t ow_begin = 0;
        // Whole vectors, the last overlapping the one before (the same values written twice).
        if (OW >= 8) {
          for (int64_t ow = 0; ow + 8 <= OW; ow += 8) backward_codes_vector<8>(gr, word, ow, r0, r1);
          if (OW % 8 != 0) backward_codes_vector<8>(gr, word, OW - 8, r0, r1);
          ow_begin = OW;
        } else if (OW >= 4) {
          backward_codes_vector<4>(gr, word, 0, r0, r1);
          backward_codes_vector<4>(gr, word, OW - 4, r0, r1);
          ow_begin = OW;
        }
        for (int64_t ow = ow_begin; ow < OW; ++ow) {
          const float v = 0.0f + gr[ow];
          const uint64_t code = ((word >> ow) & 1) | ((word >> (32 + ow)) & 1) << 1;
          r0[2 * ow] = code == 0 ? v : 0.0f;
          r0[2 * ow + 1] = code == 1 ? v : 0.0f;
          r1[2 * ow] = code == 2 ? v : 0.0f;
          r1[2 * ow + 1] = code == 3 ? v : 0.0f;
        }
        if (W > 2 * OW) r0[W - 1] = r1[W - 1] = 0.0f;  // odd width: the last column is in no window
      }
      if (H > 2 * OH) std::fill(xp + (H - 1) * W, xp + H * W, 0.0f);  // odd height: the last row
    }
  });
  return gx;
}

// ---- 2x2 max-pool for inference: the maxima alone ------------------------------------------------------
// The forward-only graph (models/fuse_epilogues.h) never routes a gradient, so it keeps neither flat
// indices nor tap codes: the same taps and selects as pool2x2_vector / pool2x2_vector_f64 without the arg-max.

namespace {

template <int VL>
inline void pool2x2_vector_values(const float* xp, int64_t row, int64_t W, int64_t ow, float* y) {
  using V = typename PoolLanes<VL>::V;
  V taps[4];
  window_taps<VL>(xp, row, W, ow, taps);
  V best = taps[0];
  for (int t = 1; t < 4; ++t) best = (taps[t] > best) | ((taps[t] != taps[t]) & (best == best)) ? taps[t] : best;
  std::memcpy(y + ow, &best, sizeof(V));
}

inline void pool2x2_vector_values_f64(const double* xp, int64_t row, int64_t W, int64_t ow, double* y) {
  using V = PoolLanesF64::V;
  V taps[4];
  window_taps_f64(xp, row, W, ow, taps);
  V best = taps[0];
  for (int t = 1; t < 4; ++t) best = (taps[t] > best) | ((taps[t] != taps[t]) & (best == best)) ? taps[t] : best;
  std::memcpy(y + ow, &best, sizeof(V));
}

// One output row (pool2x2_row's vector layout: the last vector overlaps the one before; a float row of 4..7
// outputs whose next output row follows runs as one 8-lane vector spilling into that row, rewritten next).
inline void pool2x2_row_values(const float* xp, int64_t row, int64_t W, int64_t OW, float* y, bool next_row_follows) {
  if (OW >= 8) {
    for (int64_t ow = 0; ow + 8 <= OW; ow += 8) pool2x2_vector_values<8>(xp, row, W, ow, y);
    if (OW % 8 != 0) pool2x2_vector_values<8>(xp, row, W, OW - 8, y);
  } else if (OW >= 4 && next_row_follows) {
    pool2x2_vector_values<8>(xp, row, W, 0, y);
  } else if (OW >= 4) {
    pool2x2_vector_values<4>(xp, row, W, 0, y);
    pool2x2_vector_values<4>(xp, row, W, OW - 4, y);
  } else {
    int64_t unused;
    for (int64_t ow = 0; ow < OW; ++ow) pool2x2_one(xp, row + 2 * ow, W, y[ow], unused);
  }
}
inline void pool2x2_row_values(const double* xp, int64_t row, int64_t W, int64_t OW, double* y, bool) {
  if (OW >= 4) {
    for (int64_t ow = 0; ow + 4 <= OW; ow += 4) pool2x2_vector_values_f64(xp, row, W, ow, y);
    if (OW % 4 != 0) pool2x2_vector_values_f64(xp, row, W, OW - 4, y);
  } else {
    int64_t unused;
    for (int64_t ow = 0; ow < OW; ++ow) pool2x2_one(xp, row + 2 * ow, W, y[ow], unused);
  }
}

template <class T>
void pool_plane_values(const T* x, int64_t H, int64_t W, T* y) {
  const int64_t OH = H / 2, OW = W / 2;
  for (int64_t oh = 0; oh < OH; ++oh) pool2x2_row_values(x, 2 * oh * W, W, OW, y + oh * OW, oh + 1 < OH);
}

template <class T>
void maxpool2d_values_planes(const Tensor& x, Tensor& y) {
  const int64_t H = x.dim(2), W = x.dim(3), OH = H / 2, OW = W / 2, planes = x.dim(0) * x.dim(1);
  const T* px = x.data<T>();
  T* py = y.data<T>();
  parallel_for(planes, plane_grain(H * W + OH * OW), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) pool_plane_values(px + plane * H * W, H, W, py + plane * OH * OW);
  });
}

}  // namespace

bool maxpool2d_values_apply(const Tensor& x, const Pool2dGeometry& g) {
  if (!x.defined() || x.device() != Device::CPU || !(x.dtype() == DType::F32 || x.dtype() == DType::F64) ||
      x.ndim() != 4)
    return false;
  return g.kernel_h == 2 && g.kernel_w == 2 && g.stride_h == 2 && g.stride_w == 2 && g.dilation_h == 1 &&
         g.dilation_w == 1 && g.pad_top == 0 && g.pad_left == 0 && g.pad_bottom == 0 && g.pad_right == 0 &&
         !g.ceil_mode && x.dim(2) >= 2 && x.dim(3) >= 2 && x.dim(3) < (int64_t(1) << 30);
}

Tensor maxpool2d_forward_values(const Tensor& x, const Pool2dGeometry& g) {
  if (!maxpool2d_values_apply(x, g))
    throw Error(
        "maxpool2d_forward_values: needs float32 or float64 (N, C, H, W) on the CPU, H, W >= 2 and a 2x2 "
        "stride-2 window without padding, dilation or ceil_mode; got " +
        (x.defined() ? x.describe() : std::string("an undefined tensor")));
  Tensor y = Tensor::empty({x.dim(0), x.dim(1), x.dim(2) / 2, x.dim(3) / 2}, x.dtype());  // every output written
  if (x.dtype() == DType::F32)
    maxpool2d_values_planes<float>(x, y);
  else
    maxpool2d_values_planes<double>(x, y);
  return y;
}

}  // namespace xdnn::ops

namespace xdnn::cpu {

void pool2x2_plane_values(const float* x, int64_t H, int64_t W, float* y) { ops::pool_plane_values(x, H, W, y); }
void pool2x2_plane_values(const double* x, int64_t H, int64_t W, double* y) { ops::pool_plane_values(x, H, W, y); }

}  // namespace xdnn::cpu
