// Bit-identity helpers for the tests that promise "the same bits" (fast paths against reference routes, fused
// against unfused graphs, one thread against several): one definition, so every such test compares the same way.
#pragma once
#include <cstring>

#include "engine/parallel.h"
#include "engine/tensor.h"

namespace xdnn::testing {

// Same shape, same dtype and the same bytes element for element: stricter than ==, it tells -0 from +0 and
// holds for NaN. Works on views (compared through contiguous host copies); tensors on another device are
// compared after a copy to the CPU by the caller.
inline bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  if (a.numel() == 0) return true;
  const Tensor ac = a.clone(), bc = b.clone();
  return std::memcmp(ac.raw_data(), bc.raw_data(), static_cast<size_t>(ac.numel()) * dtype_size(ac.dtype())) == 0;
}

// Restores the thread pool's size when the test scope ends, so a test that varies it leaves none behind.
struct RestoreThreadCount {
  int saved = num_threads();
  ~RestoreThreadCount() { set_num_threads(saved); }
};

}  // namespace xdnn::testing
