// Whether the GPU test cases can run, decided once at test registration: every GPU case carries
// `* doctest::skip(no_gpu())`, so without a device (or without the backend) it is counted as skipped in
// doctest's summary, never as passed. The reason is printed by the case "cuda: availability ..."
// (tests/test_cuda.cpp) and by `xdnn --version`.
#pragma once
#include <string>

#include "kernels/cuda_ops.h"

namespace xdnn::testing {

// Why there is no usable GPU ("" when there is one).
inline const std::string& no_gpu_reason() {
  static const std::string reason = [] {
    if constexpr (!cuda::kBuilt) {
      return std::string("xdnn was built without the CUDA backend (-Dcuda=disabled or no nvcc)");
    } else {
      std::string r;
      if (!cuda::devices(&r).empty()) return std::string();
      return "no CUDA device: " + r;
    }
  }();
  return reason;
}
inline bool no_gpu() { return !no_gpu_reason().empty(); }

}  // namespace xdnn::testing
