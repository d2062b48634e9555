// What the CPU pooling files (pooling.cpp: max, avgpool.cpp: average) share.
#pragma once
#include <cstdint>
#include <string>

#include "engine/ops.h"

namespace xdnn::ops {

inline constexpr int64_t kPlaneGrain = 4;  // (n, c) planes per parallel task at least

inline void check_pool(const Tensor& x, const Pool2dGeometry& g, const char* what) {
  expect_float(x, what);
  if (x.ndim() != 4) throw Error(std::string(what) + ": expected input (N, C, H, W), got " + x.describe());
  if (g.kernel_h < 1 || g.kernel_w < 1 || g.stride_h < 1 || g.stride_w < 1 || g.dilation_h < 1 || g.dilation_w < 1)
    throw Error(std::string(what) + ": kernel, stride and dilation must be >= 1");
}

}  // namespace xdnn::ops
