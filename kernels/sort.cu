// Stable ranks along the last axis on the GPU (CPU twin: engine/cpu/sort.cpp; body: kernels/sort_body.h):
// one thread per element counting its rank over its row, O(L²) a row (see the body for where that fits).
#include "engine/dispatch.h"
#include "kernels/cuda_backend.h"
#include "kernels/cuda_sort.h"
#include "kernels/sort_body.h"

namespace xdnn::cuda {

Tensor stable_rank_last_axis(const Tensor& x) {
  expect_cuda(x, "stable_rank_last_axis");
  Tensor ranks = Tensor::empty(x.shape(), DType::I64, Device::CUDA);
  if (x.numel() == 0) return ranks;
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(), StableRankBody<T>{x.device_data<T>(), ranks.device_data<int64_t>(), x.dim(-1)},
               "stable_rank_last_axis");
    return 0;
  });
  return ranks;
}

}  // namespace xdnn::cuda
