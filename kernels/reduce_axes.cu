// Reductions over axes with their arg, their backward pass and the first non-finite element on the GPU (CPU
// twins: engine/cpu/reduce_axes.cpp; bodies and their order: kernels/reduce_axes_body.h), and the index range
// checks of kernels/index_check.h.
#include <limits>
#include <string>

#include "engine/dispatch.h"
#include "kernels/cuda_backend.h"
#include "kernels/index_check.h"
#include "kernels/reduce_axes_body.h"

namespace xdnn::cuda {
namespace {

void check_rank(const Tensor& x, const char* what) {
  if (x.ndim() > kMaxDims)
    throw Error(std::string(what) + ": at most " + std::to_string(kMaxDims) + " axes on CUDA, got " + x.describe());
}

// Pass 1: block b writes the smallest index its threads found (n: none) to partials[b].
template <class Body>
__global__ void first_index_partials(Body body, int64_t* partials) {
  __shared__ int64_t v[kReduceThreads];
  const int tid = static_cast<int>(threadIdx.x);
  v[tid] = body(static_cast<int64_t>(blockIdx.x) * kReduceThreads + tid);
  __syncthreads();
  for (int stride = kReduceThreads / 2; stride > 0; stride /= 2) {
    min_tree_step(v, tid, stride);
    __syncthreads();
  }
  if (tid == 0) partials[blockIdx.x] = v[0];
}

// Pass 2: one block takes the minimum of the kReduceBlocks partials with the same tree.
__global__ void first_index_final(const int64_t* partials, int64_t n, int64_t* result) {
  __shared__ int64_t v[kReduceThreads];
  const int tid = static_cast<int>(threadIdx.x);
  v[tid] = tid < kReduceBlocks ? partials[tid] : n;
  __syncthreads();
  for (int stride = kReduceThreads / 2; stride > 0; stride /= 2) {
    min_tree_step(v, tid, stride);
    __syncthreads();
  }
  if (tid == 0) *result = v[0];
}

// The two passes for `body` (its n and threads set); the first index, or −1.
template <class Body>
int64_t first_index(const Body& body, const char* what) {
  if (body.n == 0) return -1;
  Tensor partials = Tensor::empty({kReduceBlocks}, DType::I64, Device::CUDA);
  Tensor result = Tensor::empty({1}, DType::I64, Device::CUDA);
  first_index_partials<Body><<<kReduceBlocks, kReduceThreads, 0, stream()>>>(body, partials.device_data<int64_t>());
  check_launch(what);
  first_index_final<<<1, kReduceThreads, 0, stream()>>>(partials.device_data<int64_t>(), body.n,
                                                        result.device_data<int64_t>());
  check_launch(what);
  int64_t out = 0;
  copy_bytes(&out, Device::CPU, result.device_data<int64_t>(), Device::CUDA, sizeof(int64_t));
  return out == body.n ? -1 : out;
}

constexpr int64_t kGridThreads = static_cast<int64_t>(kReduceBlocks) * kReduceThreads;

}  // namespace

std::vector<Tensor> reduce_axes(ops::ReduceOp op, const Tensor& x, const Shape& kept) {
  expect_cuda(x, "reduce_axes");
  check_rank(x, "reduce_axes");
  const ReduceAxesMap m = reduce_axes_map(x.shape(), kept);
  Tensor y = Tensor::empty(kept, x.dtype(), Device::CUDA), arg = Tensor::empty(kept, DType::I64, Device::CUDA);
  const auto run = [&](auto zero) {
    using T = decltype(zero);
    launch_map(y.numel(), ReduceAxesBody<T>{op, x.device_data<T>(), y.device_data<T>(), arg.device_data<int64_t>(), m},
               "reduce_axes");
    return 0;
  };
  if (x.dtype() == DType::I64)
    run(int64_t{0});
  else
    dispatch_float(x.dtype(), run);
  return {y, arg};
}

Tensor reduce_axes_backward(ops::ReduceOp op, const Tensor& x, const Tensor& gy, const Tensor& arg, const Shape& kept) {
  expect_cuda(x, "reduce_axes_backward");
  expect_cuda(gy, "reduce_axes_backward");
  expect_cuda(arg, "reduce_axes_backward");
  check_rank(x, "reduce_axes_backward");
  const ReduceAxesMap m = reduce_axes_map(x.shape(), kept);
  Tensor gx = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(gx.numel(),
               ReduceAxesBackwardBody<T>{op, x.device_data<T>(), gy.device_data<T>(), arg.device_data<int64_t>(),
                                         gx.device_data<T>(), m},
               "reduce_axes_backward");
    return 0;
  });
  return gx;
}

int64_t first_nonfinite(const Tensor& x) {
  expect_cuda(x, "first_nonfinite");
  return dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    return first_index(
        FirstNonfiniteBody<T>{x.device_data<T>(), x.numel(), kGridThreads, std::numeric_limits<T>::max()},
        "first_nonfinite");
  });
}

int64_t first_outside(const Tensor& ids, int64_t lo, int64_t hi) {
  expect_cuda(ids, "index check");
  if (ids.dtype() != DType::I64) throw Error("index check: expected int64 indices, got " + ids.describe());
  return first_index(FirstOutsideBody{ids.device_data<int64_t>(), ids.numel(), kGridThreads, lo, hi}, "first_outside");
}

int64_t id_at(const Tensor& ids, int64_t i) {
  int64_t v = 0;
  copy_bytes(&v, Device::CPU, ids.device_data<int64_t>() + i, Device::CUDA, sizeof(int64_t));
  return v;
}

}  // namespace xdnn::cuda
