// Deterministic full reductions on the GPU (CPU twins: ops::sum_all, ops::dot_all). The order of the
// additions is fixed by kernels/reduce_body.h: two passes over a fixed grid, pairwise trees in blocks.
#include <string>

#include "engine/dispatch.h"
#include "kernels/cuda_backend.h"
#include "kernels/reduce_body.h"

namespace xdnn::cuda {
namespace {

// Pass 1: block b writes the tree sum of its threads' partial sums to partials[b].
template <class T>
__global__ void partial_sums_kernel(PartialSumBody<T> body, double* partials) {
  __shared__ double v[kReduceThreads];
  const int tid = static_cast<int>(threadIdx.x);
  v[tid] = body(static_cast<int64_t>(blockIdx.x) * kReduceThreads + tid);
  __syncthreads();
  for (int stride = kReduceThreads / 2; stride > 0; stride /= 2) {
    tree_step(v, tid, stride);
    __syncthreads();
  }
  if (tid == 0) partials[blockIdx.x] = v[0];
}

// Pass 2: one block adds the kReduceBlocks partials with the same tree.
__global__ void final_sum_kernel(const double* partials, double* result) {
  __shared__ double v[kReduceThreads];
  const int tid = static_cast<int>(threadIdx.x);
  v[tid] = tid < kReduceBlocks ? partials[tid] : 0.0;
  __syncthreads();
  for (int stride = kReduceThreads / 2; stride > 0; stride /= 2) {
    tree_step(v, tid, stride);
    __syncthreads();
  }
  if (tid == 0) *result = v[0];
}

template <class T>
double reduce(const T* a, const T* b, int64_t n) {
  Tensor partials = Tensor::empty({kReduceBlocks}, DType::F64, Device::CUDA);
  Tensor result = Tensor::empty({1}, DType::F64, Device::CUDA);
  const PartialSumBody<T> body{a, b, n, static_cast<int64_t>(kReduceBlocks) * kReduceThreads};
  partial_sums_kernel<T><<<kReduceBlocks, kReduceThreads, 0, stream()>>>(body, partials.device_data<double>());
  check_launch("partial_sums");
  final_sum_kernel<<<1, kReduceThreads, 0, stream()>>>(partials.device_data<double>(), result.device_data<double>());
  check_launch("final_sum");
  double out = 0;
  copy_bytes(&out, Device::CPU, result.device_data<double>(), Device::CUDA, sizeof(double));
  return out;
}

}  // namespace

double sum_all(const Tensor& x) {
  expect_cuda(x, "sum_all");
  ops::expect_float(x, "sum_all");
  return dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    return reduce<T>(x.device_data<T>(), nullptr, x.numel());
  });
}

double dot_all(const Tensor& a, const Tensor& b) {
  expect_cuda(a, "dot_all");
  expect_cuda(b, "dot_all");
  ops::expect_float(a, "dot_all");
  ops::expect_same_dtype(a, b, "dot_all");
  if (a.numel() != b.numel()) throw Error("dot_all: " + a.describe() + " vs " + b.describe());
  return dispatch_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    return reduce<T>(a.device_data<T>(), b.device_data<T>(), a.numel());
  });
}

}  // namespace xdnn::cuda
