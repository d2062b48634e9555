// What the max-pool paths of pooling.cpp (flat arg-max indices) and pooling_tap_codes.cpp (tap codes) share:
// the scalar window scan and the vector lanes with their shuffles.
#pragma once
#include <cstdint>
#include <cstring>

namespace xdnn::ops {

// Max-pool window scan: `take` when strictly greater (the first maximum wins) or the first NaN. Written
// as selects, not branches: max-pool inputs are data-dependent coin flips for the branch predictor.
template <class T>
inline void scan_element(const T* xp, int64_t k, T& best, int64_t& best_i) {
  const T v = xp[k];
  const bool take = (v > best) | ((v != v) & (best == best));
  best = take ? v : best;
  best_i = take ? k : best_i;
}

// The 2x2 stride-2 window without padding or dilation (every pooling layer of the zoo), one output row:
// y[ow] and its arg-max for the window at rows (r0, r0 + W) = (2·oh, 2·oh + 1), columns 2·ow, 2·ow + 1.
// Same first-maximum / first-NaN rule and the same scan order as scan_element (a, b on the upper row,
// then c, d); selects only, so the result is bit-identical to the general loop.
template <class T>
inline void pool2x2_one(const T* xp, int64_t base, int64_t W, T& best, int64_t& best_i) {
  best = xp[base];
  best_i = base;
  scan_element(xp, base + 1, best, best_i);
  scan_element(xp, base + W, best, best_i);
  scan_element(xp, base + W + 1, best, best_i);
}

// Vector types of VL float lanes, their int32 masks / offsets, and int64 arg-max lanes; the lane shuffles
// (even / odd elements of the concatenation a:b, and the interleaving of a and b's low / high halves) are
// __builtin_shufflevector, which GCC (>= 12) and clang both compile to the same permute instructions.
template <int VL>
struct PoolLanes;
template <>
struct PoolLanes<8> {
  typedef float V __attribute__((vector_size(32)));
  typedef int32_t I __attribute__((vector_size(32)));
  typedef int64_t L __attribute__((vector_size(64)));
  static constexpr I lane = {0, 1, 2, 3, 4, 5, 6, 7};
  static V even(V a, V b) { return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14); }
  static V odd(V a, V b) { return __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15); }
  static V interleave_lo(V a, V b) { return __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11); }
  static V interleave_hi(V a, V b) { return __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15); }
};
template <>
struct PoolLanes<4> {
  typedef float V __attribute__((vector_size(16)));
  typedef int32_t I __attribute__((vector_size(16)));
  typedef int64_t L __attribute__((vector_size(32)));
  static constexpr I lane = {0, 1, 2, 3};
  static V even(V a, V b) { return __builtin_shufflevector(a, b, 0, 2, 4, 6); }
  static V odd(V a, V b) { return __builtin_shufflevector(a, b, 1, 3, 5, 7); }
  static V interleave_lo(V a, V b) { return __builtin_shufflevector(a, b, 0, 4, 1, 5); }
  static V interleave_hi(V a, V b) { return __builtin_shufflevector(a, b, 2, 6, 3, 7); }
};

// Four double lanes: comparisons of doubles give 64-bit masks, so the arg-max offsets live in int64 lanes
// of the same width (no conversion, unlike the float lanes' int32 offsets).
struct PoolLanesF64 {
  typedef double V __attribute__((vector_size(32)));
  typedef int64_t L __attribute__((vector_size(32)));
  static constexpr L lane = {0, 1, 2, 3};
  static V even(V a, V b) { return __builtin_shufflevector(a, b, 0, 2, 4, 6); }
  static V odd(V a, V b) { return __builtin_shufflevector(a, b, 1, 3, 5, 7); }
  static V interleave_lo(V a, V b) { return __builtin_shufflevector(a, b, 0, 4, 1, 5); }
  static V interleave_hi(V a, V b) { return __builtin_shufflevector(a, b, 2, 6, 3, 7); }
};

// window_taps for four double windows.
inline void window_taps_f64(const double* xp, int64_t row, int64_t W, int64_t ow, PoolLanesF64::V (&taps)[4]) {
  using V = PoolLanesF64::V;
  const double* r0 = xp + row + 2 * ow;
  const double* r1 = r0 + W;
  V u0, u1, l0, l1;
  std::memcpy(&u0, r0, sizeof(V));
  std::memcpy(&u1, r0 + 4, sizeof(V));
  std::memcpy(&l0, r1, sizeof(V));
  std::memcpy(&l1, r1 + 4, sizeof(V));
  taps[0] = PoolLanesF64::even(u0, u1);
  taps[1] = PoolLanesF64::odd(u0, u1);
  taps[2] = PoolLanesF64::even(l0, l1);
  taps[3] = PoolLanesF64::odd(l0, l1);
}

// The four taps of VL consecutive 2x2 windows whose first output column is ow, in scan order (upper-left,
// upper-right, lower-left, lower-right): the even / odd elements of the two input rows.
template <int VL>
inline void window_taps(const float* xp, int64_t row, int64_t W, int64_t ow, typename PoolLanes<VL>::V (&taps)[4]) {
  using V = typename PoolLanes<VL>::V;
  using Lanes = PoolLanes<VL>;
  const float* r0 = xp + row + 2 * ow;
  const float* r1 = r0 + W;
  V u0, u1, l0, l1;
  std::memcpy(&u0, r0, sizeof(V));
  std::memcpy(&u1, r0 + VL, sizeof(V));
  std::memcpy(&l0, r1, sizeof(V));
  std::memcpy(&l1, r1 + VL, sizeof(V));
  taps[0] = Lanes::even(u0, u1);
  taps[1] = Lanes::odd(u0, u1);
  taps[2] = Lanes::even(l0, l1);
  taps[3] = Lanes::odd(l0, l1);
}

}  // namespace xdnn::ops
