// Kernel body of kernels/sort.cu (CPU twin: engine/cpu/sort.cpp): the stable rank of one element in its
// row of the last axis, by counting rather than sorting,
//   rank_i = #{j : x_j before x_i} + #{j < i : x_j ties x_i}
// (engine/ops_sort.h's order: numbers by <, NaN after every number, ties in index order). One thread per
// element reads its whole row: O(L²) work a row, no shared state, no atomics. Fine for the rows it serves
// (extremal perturbation's mask, h·w ≤ a few thousand cells); rows of whole images (3·224·224) would need
// an O(L log L) sort instead.
#pragma once
#include <cstdint>

#include "kernels/host_device.h"

namespace xdnn::cuda {

// a before b in engine/ops_sort.h's order; a == b (numbers, ±0 included) or both NaN tie.
template <class T>
XDNN_HOST_DEVICE inline bool rank_before(T a, T b) {
  return a < b || (b != b && a == a);
}
template <class T>
XDNN_HOST_DEVICE inline bool rank_ties(T a, T b) {
  return a == b || (a != a && b != b);
}

// ranks[i] for the rows of length L of x (numel = rows · L, L ≥ 1).
template <class T>
struct StableRankBody {
  const T* x;
  int64_t* ranks;
  int64_t L;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    const int64_t start = i - i % L, k = i - start;
    const T* row = x + start;
    const T v = row[k];
    int64_t rank = 0;
    for (int64_t j = 0; j < L; ++j) rank += (rank_before(row[j], v) || (j < k && rank_ties(row[j], v))) ? 1 : 0;
    ranks[i] = rank;
  }
};

}  // namespace xdnn::cuda
