// The CUDA backend's internals, for kernels/*.cu and kernels/*.cpp only (includes cuda_runtime.h).
//
// ===== Conventions (read before adding a kernel) ========================================================
// 1. Dispatch. The public ops:: function (engine/cpu/<family>.cpp) checks the operands' metadata, then
//    calls the entry of the table of their device (engine/backend.h). The CUDA entry is the cuda::
//    function of the same name and signature, declared in kernels/cuda_ops.h, defined in
//    kernels/<family>.cu and listed in kernels/cuda_table.cpp. A new op: an entry in engine/backend.h,
//    its CPU twin (engine/cpu/), its cuda:: function here and its line in cuda_table.cpp. Checks that need
//    the tensors' values (labels or ids in range) are the backend's, on the device's copy.
// 2. Kernel bodies are testable on the CPU. The per-element (or per-line) work is a small struct in
//    kernels/<family>_body.h with the arguments as fields and
//        XDNN_HOST_DEVICE void operator()(int64_t i) const;
//    (kernels/host_device.h). The .cu file launches it with launch_map(n, body, "name"); the test
//    tests/test_cuda_host.cpp (g++, no GPU, runs in every build) runs the very same struct for every i
//    with run_on_host() and compares with the CPU op. Bodies include only kernels/host_device.h and use
//    its math (kexp, klog, ...), no std:: (not all of it is callable in device code).
// 3. Memory. Outputs are Tensor::empty(shape, dtype, Device::CUDA) (pool memory, uninitialised) or
//    Tensor(shape, dtype, Device::CUDA) (zeroed). Device pointers come from t.device_data<T>() (data<T>()
//    throws on a CUDA tensor). Never cudaMalloc/cudaFree directly, never managed memory.
// 4. Stream. Everything runs on stream(): kernels (launch_map does it), cuBLAS and cuDNN (the handles of
//    kernels/cuda_libs.h are bound to it), copies (copy_bytes). One stream keeps the order
//    of work the order of calls, so the pool can hand a freed block to the next op without an event.
// 5. Errors. Every CUDA/cuBLAS/cuDNN status goes through check(status, "cudaMemcpyAsync") (throws one
//    line naming the call and the error string); after each launch call check_launch("kernel name").
//    Values that need the host (labels to validate, a scalar result) are copied back with copy_bytes.
// 6. Determinism. Same inputs -> same bits on the same device: no atomics on floats, reductions over a
//    fixed grid (not derived from the device's SM count) in a fixed tree order.
// 7. Compile time. nvcc runs in CI on 2 cores for two architectures: no thrust/CUB, keep includes to
//    this header, the _body.h files and engine/ops.h. Host-only code (library calls, shape logic) may
//    live in kernels/*.cpp, compiled by g++.
// ==========================================================================================================
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda_ops.h"
#include "kernels/host_device.h"

namespace xdnn::cuda {

// Throws Error("<call> failed: <cudaGetErrorString(status)>") unless status == cudaSuccess.
void check(cudaError_t status, const char* call);
// After a kernel launch: turns cudaGetLastError() into an Error naming the kernel.
void check_launch(const char* kernel);
// The backend's stream (created on first use, on device 0 after require_device()).
cudaStream_t stream();

// Throws "<what>: expected a CUDA tensor, got <describe> on the cpu (move all operands to one device with
// Tensor::to(Device))" unless t is defined and on the GPU.
void expect_cuda(const Tensor& t, const char* what);

// Launch geometry for element-wise kernels: kBlock threads a block, at most kMaxBlocks blocks, the rest
// covered by a grid-stride loop. Fixed numbers (not from the device's properties) keep results the same
// on every GPU.
constexpr int kBlock = 256;
constexpr int64_t kMaxBlocks = 4096;
inline unsigned blocks_for(int64_t n) {
  const int64_t b = (n + kBlock - 1) / kBlock;
  return static_cast<unsigned>(b < 1 ? 1 : (b > kMaxBlocks ? kMaxBlocks : b));
}

#if defined(__CUDACC__)
// body(i) for every i in [0, n), grid-stride.
template <class Body>
__global__ void map_kernel(int64_t n, Body body) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) body(i);
}

template <class Body>
void launch_map(int64_t n, const Body& body, const char* name) {
  if (n <= 0) return;
  map_kernel<<<blocks_for(n), kBlock, 0, stream()>>>(n, body);
  check_launch(name);
}
#endif

}  // namespace xdnn::cuda
