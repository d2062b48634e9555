// The store of a fused convolution epilogue (engine/conv_epilogue.h) for one output row of n positions:
//   dst[p] = act((src[p] + bias) + res[p])
// with the bias sum only when the convolution has a bias and the residual sum only with a residual (adding
// a zero instead would turn −0 into +0, a different bit pattern from the unfused nodes). dst may be src.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/conv_epilogue.h"
#include "engine/cpu/pool_values.h"

namespace xdnn::cpu {

template <class T>
struct ConvEpilogue {
  ops::ConvActivation act = ops::ConvActivation::None;
  T lo = T(0), hi = T(0);       // Clip bounds
  const T* residual = nullptr;  // (N, O, P) or null
  bool residual_first = false;  // r + v instead of v + r: the unfused Add's operand order (NaN payloads)
  bool any() const { return residual != nullptr || act != ops::ConvActivation::None; }
};

// Residual: 0 none, 1 v + r, 2 r + v.
template <class T, bool HasBias, int Residual, class Act>
void epilogue_row_as(T* dst, const T* src, int64_t n, T bias, const T* res, Act act) {
  for (int64_t p = 0; p < n; ++p) {
    T v = src[p];
    if constexpr (HasBias) v = v + bias;
    if constexpr (Residual == 1) v = v + res[p];
    if constexpr (Residual == 2) v = res[p] + v;
    dst[p] = act(v);
  }
}

template <class T, bool HasBias, class Act>
void epilogue_row_bias(T* dst, const T* src, int64_t n, T bias, const T* res, bool res_first, Act act) {
  if (!res)
    epilogue_row_as<T, HasBias, 0>(dst, src, n, bias, res, act);
  else if (res_first)
    epilogue_row_as<T, HasBias, 2>(dst, src, n, bias, res, act);
  else
    epilogue_row_as<T, HasBias, 1>(dst, src, n, bias, res, act);
}

template <class T, class Act>
void epilogue_row_act(T* dst, const T* src, int64_t n, const T* bias, const T* res, bool res_first, Act act) {
  if (bias)
    epilogue_row_bias<T, true>(dst, src, n, *bias, res, res_first, act);
  else
    epilogue_row_bias<T, false>(dst, src, n, T(0), res, res_first, act);
}

// res: this row of the residual (or null); bias: this row's bias (or null).
template <class T>
void epilogue_row(T* dst, const T* src, int64_t n, const T* bias, const T* res, const ConvEpilogue<T>& e) {
  switch (e.act) {
    case ops::ConvActivation::Relu:  // as ops::unary Relu (engine/cpu/elementwise.cpp)
      epilogue_row_act(dst, src, n, bias, res, e.residual_first, [](T v) { return v > T(0) ? v : T(0); });
      break;
    case ops::ConvActivation::Clip: {  // as ops::pointwise Clip (engine/cpu/pointwise.cpp)
      const T lo = e.lo, hi = e.hi;
      epilogue_row_act(dst, src, n, bias, res, e.residual_first,
                       [lo, hi](T v) { return v < lo ? lo : (v > hi ? hi : v); });
      break;
    }
    case ops::ConvActivation::None:
      epilogue_row_act(dst, src, n, bias, res, e.residual_first, [](T v) { return v; });
      break;
  }
}

// The store of one output plane of OH·OW positions (engine/conv_pool.h): without pool, epilogue_row into
// dst (OH, OW); with pool, epilogue_row into tmp, then tmp's 2x2 maxima into dst (OH/2, OW/2).
template <class T>
void epilogue_plane(T* dst, const T* src, int64_t OH, int64_t OW, const T* bias, const T* res, const ConvEpilogue<T>& e,
                    bool pool) {
  if (!pool) return epilogue_row<T>(dst, src, OH * OW, bias, res, e);
  thread_local std::vector<T> tmp;
  if (tmp.size() < static_cast<size_t>(OH * OW)) tmp.resize(static_cast<size_t>(OH * OW));
  epilogue_row<T>(tmp.data(), src, OH * OW, bias, res, e);
  pool2x2_plane_values(tmp.data(), OH, OW, dst);
}

}  // namespace xdnn::cpu
