// Kernel bodies of kernels/mod_range.cu (CPU twins: engine/cpu/mod_range.cpp): float Mod with its quotient,
// one thread per output element in double as the CPU computes it (floor, trunc, fmod and the division are
// exact or correctly rounded on both), and arange, one thread per element.
#pragma once
#include <cstdint>

#include "kernels/common_body.h"

namespace xdnn::cuda {

// Broadcast geometry: output element i reads a at Σ coord·a_strides and b at Σ coord·b_strides (0 on
// broadcast axes), coordinates row-major over dims.
struct ModMap {
  int ndim = 0;
  int64_t dims[kMaxDims] = {}, a_strides[kMaxDims] = {}, b_strides[kMaxDims] = {};
};

template <class T>
struct ModBody {
  const T* a;
  const T* b;
  T* y;
  T* q;
  bool fmod;
  ModMap m;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    int64_t rem = i, ia = 0, ib = 0;
    for (int d = m.ndim - 1; d >= 0; --d) {
      const int64_t c = rem % m.dims[d];
      rem /= m.dims[d];
      ia += c * m.a_strides[d], ib += c * m.b_strides[d];
    }
    const double u = static_cast<double>(a[ia]), v = static_cast<double>(b[ib]);
    const double qi = fmod ? ::trunc(u / v) : ::floor(u / v);
    q[i] = static_cast<T>(qi);
    y[i] = static_cast<T>(fmod ? ::fmod(u, v) : u - kmul_rn(v, qi));
  }
};

// y[i] = start + i · delta: in double then rounded (float), or exactly with int64 wrap-around.
template <class T>
struct ArangeBody {
  const T* start;
  const T* delta;
  T* y;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    y[i] =
        static_cast<T>(static_cast<double>(start[0]) + kmul_rn(static_cast<double>(i), static_cast<double>(delta[0])));
  }
};
template <>
struct ArangeBody<int64_t> {
  const int64_t* start;
  const int64_t* delta;
  int64_t* y;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    y[i] = static_cast<int64_t>(static_cast<uint64_t>(start[0]) +
                                static_cast<uint64_t>(i) * static_cast<uint64_t>(delta[0]));
  }
};

}  // namespace xdnn::cuda
