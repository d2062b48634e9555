// Random host tensors for the device tests (strict, CUDA, CUDA kernel bodies on the host).
//
// One draw per element in flat order, so a test that builds the same shapes from the same seed gets the
// same values on every run; the caller names the dtype (float tests draw N(0, 1), index tests integers).
#pragma once

#include <cstdint>

#include "engine/random.h"
#include "engine/tensor.h"

namespace xdnn {

// (shape) tensor of dtype `dt` on the host, element i = the i-th rng.normal() (rounded to dt).
inline Tensor random_normal(const Shape& shape, Rng& rng, DType dt) {
  Tensor t(shape, dt);
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) t.set_item(i, rng.normal());
  return t;
}

// (shape) tensor of dtype `dt` on the host, element i = lo + rng.below(count): indices and small integers.
inline Tensor random_integers(const Shape& shape, Rng& rng, DType dt, int64_t lo, uint64_t count) {
  Tensor t(shape, dt);
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) t.set_item(i, static_cast<double>(lo + static_cast<int64_t>(rng.below(count))));
  return t;
}

}  // namespace xdnn
