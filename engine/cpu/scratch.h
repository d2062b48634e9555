// Scratch vectors of the CPU kernels (GEMM packing, im2col columns), grown on demand.
#pragma once
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/error.h"

namespace xdnn::cpu {

// Grows a scratch vector to n elements. A failed allocation (a huge but legal product: a convolution
// over 65,544 x 4 positions packs a GB of columns) is an xdnn::Error naming the size, like a failed
// Tensor allocation, not a std::bad_alloc that callers and the fuzz harnesses do not expect.
template <class T>
void grow_scratch(std::vector<T>& v, size_t n, const char* what) {
  if (v.size() >= n) return;
  try {
    v.resize(n);
  } catch (const std::bad_alloc&) {
    throw Error("out of memory allocating " + std::to_string(n * sizeof(T)) + " bytes for a " + what);
  } catch (const std::length_error&) {
    throw Error("out of memory allocating " + std::to_string(n) + " elements for a " + what);
  }
}

}  // namespace xdnn::cpu
