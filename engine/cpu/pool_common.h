// What the CPU pooling files (pooling.cpp: max, avgpool.cpp: average) share.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>

#include "engine/ops.h"
#include "engine/parallel.h"

namespace xdnn::ops {

// (n, c) planes per parallel chunk: at least 4, and at least kChunkWork element operations (a plane costs
// about its input plus its output elements), so the small planes of a batch-1 pass stay on the calling
// thread (saliency at batch 1 on fashion-cnn: 4 pooling regions of 8-16 planes of 14x14-28x28, ~1 µs of work
// per chunk, each a fork-join before).
inline int64_t plane_grain(int64_t plane_work) { return std::max<int64_t>(4, grain_for_work(plane_work)); }

inline void check_pool(const Tensor& x, const Pool2dGeometry& g, const char* what) {
  expect_float(x, what);
  if (x.ndim() != 4) throw Error(std::string(what) + ": expected input (N, C, H, W), got " + x.describe());
  if (g.kernel_h < 1 || g.kernel_w < 1 || g.stride_h < 1 || g.stride_w < 1 || g.dilation_h < 1 || g.dilation_w < 1)
    throw Error(std::string(what) + ": kernel, stride and dilation must be >= 1");
}

}  // namespace xdnn::ops
