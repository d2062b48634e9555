// Sums of the convolution's weight-gradient pass (engine/cpu/conv.cpp): the bias gradient's row sums and
// the transposed partials added back per group. Both are functions of the shapes alone, never of the
// thread count. Included by conv.cpp only, after im2col.h (anonymous namespace, like im2col.h).
#pragma once
#include <cstdint>

#include "engine/cpu/im2col.h"

namespace xdnn::ops {
namespace {

// Σ_l r[l] for l < n: two vectors of lane sums over the whole vectors, added together, their lanes added in
// order, then the tail in order. A function of n alone, never of the thread count.
template <class T>
T lane_sum(const T* r, int64_t n) {
  typedef T V __attribute__((vector_size(32), aligned(sizeof(T)), may_alias));
  constexpr int64_t VL = 32 / sizeof(T);
  V a0 = V{}, a1 = V{};
  int64_t k = 0;
  for (; k + 2 * VL <= n; k += 2 * VL) {
    a0 += *reinterpret_cast<const V*>(r + k);
    a1 += *reinterpret_cast<const V*>(r + k + VL);
  }
  if (k + VL <= n) {
    a0 += *reinterpret_cast<const V*>(r + k);
    k += VL;
  }
  const V a = a0 + a1;
  T sum = T(0);
  for (int64_t l = 0; l < VL; ++l) sum += a[l];
  for (; k < n; ++k) sum += r[k];
  return sum;
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
}  // namespace xdnn::ops
