// Device query, the stream, library handles and error checks of the CUDA backend (host code, g++).
#include "kernels/cuda_backend.h"

#include <cstdio>

#include "kernels/cuda_libs.h"

namespace xdnn::cuda {

void check(cudaError_t status, const char* call) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the next call does not report it again
  throw Error(std::string(call) + " failed: " + cudaGetErrorString(status) + " (" + cudaGetErrorName(status) + ")");
}

void check_launch(const char* kernel) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    throw Error(std::string("CUDA kernel ") + kernel + " failed to launch: " + cudaGetErrorString(status));
}

void check_cublas(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS) throw Error(std::string(call) + " failed: " + cublasGetStatusString(status));
}

void check_cudnn(cudnnStatus_t status, const char* call) {
  if (status != CUDNN_STATUS_SUCCESS) throw Error(std::string(call) + " failed: " + cudnnGetErrorString(status));
}

std::vector<DeviceInfo> devices(std::string* reason) {
  std::vector<DeviceInfo> out;
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();
    if (reason) *reason = cudaGetErrorString(status);
    return out;
  }
  if (count == 0) {
    if (reason) *reason = "the CUDA runtime found 0 devices";
    return out;
  }
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    DeviceInfo info;
    info.index = d;
    info.name = prop.name;
    info.total_bytes = prop.totalGlobalMem;
    info.cc_major = prop.major;
    info.cc_minor = prop.minor;
    out.push_back(info);
  }
  if (out.empty() && reason) *reason = "cudaGetDeviceProperties failed for every device";
  return out;
}

static std::string version_str(int v, int major_div, int minor_div, int minor_mod) {
  return std::to_string(v / major_div) + "." + std::to_string(v / minor_div % minor_mod);
}

std::string library_versions() {
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);                     // 13000 = 13.0
  int blas_major = 0, blas_minor = 0, blas_patch = 0;  // of the cuBLAS library loaded, no device needed
  cublasGetProperty(MAJOR_VERSION, &blas_major);
  cublasGetProperty(MINOR_VERSION, &blas_minor);
  cublasGetProperty(PATCH_LEVEL, &blas_patch);
  const size_t dnn = cudnnGetVersion();  // 91300 = 9.13.0 (cuDNN 9: major*10000 + minor*100 + patch)
  return "CUDA runtime " + version_str(runtime, 1000, 10, 100) + ", cuBLAS " + std::to_string(blas_major) + "." +
         std::to_string(blas_minor) + "." + std::to_string(blas_patch) + ", cuDNN " + std::to_string(dnn / 10000) +
         "." + std::to_string(dnn / 100 % 100) + "." + std::to_string(dnn % 100);
}

void require_device(const char* what) {
  std::string reason;
  if (devices(&reason).empty())
    throw Error(std::string(what) + ": no CUDA device: " + reason,
                "run with --device cpu, or on a machine with an NVIDIA GPU");
}

namespace {

// Created on first use; never destroyed (a static destructor could run after the CUDA runtime is
// unloaded at exit).
struct Backend {
  std::mutex mutex;
  cudaStream_t stream = nullptr;
  bool ready = false;
};

Backend& backend() {
  static Backend* b = new Backend;
  return *b;
}

}  // namespace

cudaStream_t stream() {
  Backend& b = backend();
  std::lock_guard<std::mutex> lock(b.mutex);
  if (!b.ready) {
    require_device("CUDA backend");
    check(cudaSetDevice(0), "cudaSetDevice(0)");
    // A blocking stream: work someone queues on the legacy default stream still runs in order with it.
    check(cudaStreamCreateWithFlags(&b.stream, cudaStreamDefault), "cudaStreamCreate");
    b.ready = true;
  }
  return b.stream;
}

void synchronize() { check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize"); }

std::mutex& library_mutex() {
  static std::mutex* m = new std::mutex;
  return *m;
}

cublasHandle_t blas_handle() {
  static cublasHandle_t handle = nullptr;
  if (!handle) {
    cublasHandle_t h = nullptr;
    check_cublas(cublasCreate(&h), "cublasCreate");
    check_cublas(cublasSetStream(h, stream()), "cublasSetStream");
    // No tensor-core down-conversion of fp32 products (TF32): results stay within 1e-4 of the CPU.
    check_cublas(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    handle = h;
  }
  return handle;
}

cudnnHandle_t cudnn_handle() {
  static cudnnHandle_t handle = nullptr;
  if (!handle) {
    cudnnHandle_t h = nullptr;
    check_cudnn(cudnnCreate(&h), "cudnnCreate");
    check_cudnn(cudnnSetStream(h, stream()), "cudnnSetStream");
    handle = h;
  }
  return handle;
}

void expect_cuda(const Tensor& t, const char* what) {
  if (!t.defined()) throw Error(std::string(what) + ": tensor is undefined");
  if (t.device() != Device::CUDA)
    throw Error(std::string(what) + ": mixed devices: " + t.describe() +
                " is on the cpu, other operands on cuda (move all operands to one device with Tensor::to(Device))");
}

}  // namespace xdnn::cuda
