// CPU twin of engine/ops_sort.h: stable ranks along the last axis, a std::stable_sort of each row's
// indices (rows in parallel: each row's ranks are unique given the stable rule, so the thread count
// cannot change them).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/ops_sort.h"
#include "engine/parallel.h"

namespace xdnn::ops {

Tensor stable_rank_last_axis(const Tensor& x) {
  expect_float(x, "stable_rank_last_axis");
  if (x.ndim() < 1) throw Error("stable_rank_last_axis: expected at least one axis (..., L), got " + x.describe());
  return backend_of("stable_rank_last_axis", x).stable_rank_last_axis(x);
}

static Tensor cpu_stable_rank_last_axis(const Tensor& x) {
  Tensor ranks = Tensor::empty(x.shape(), DType::I64);
  const int64_t L = x.dim(-1);
  if (x.numel() == 0) return ranks;
  const int64_t rows = x.numel() / L;
  int64_t* pr = ranks.data<int64_t>();
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    // About L·log2(L) comparisons a row.
    const int64_t work = L * (1 + static_cast<int64_t>(std::log2(static_cast<double>(L) + 1)));
    parallel_for(rows, grain_for_work(work), [&](int64_t begin, int64_t end) {
      std::vector<int64_t> order(static_cast<size_t>(L));
      for (int64_t r = begin; r < end; ++r) {
        const T* row = px + r * L;
        // Numbers by <, every NaN after every number: a strict weak order (NaNs tie with each other).
        const auto before = [row](int64_t a, int64_t b) {
          return row[a] < row[b] || (!std::isnan(row[a]) && std::isnan(row[b]));
        };
        std::iota(order.begin(), order.end(), int64_t{0});
        std::stable_sort(order.begin(), order.end(), before);
        for (int64_t k = 0; k < L; ++k) pr[r * L + order[k]] = k;
      }
    });
    return 0;
  });
  return ranks;
}

// This file's entry of the CPU table (engine/cpu/backend_cpu.cpp).
void add_cpu_sort(Backend& b) { b.stable_rank_last_axis = cpu_stable_rank_last_axis; }

}  // namespace xdnn::ops
