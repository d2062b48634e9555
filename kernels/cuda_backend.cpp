// Device query, the stream, library handles and error checks of the CUDA backend (host code, g++).
#include "kernels/cuda_backend.h"

#include <cstdio>

#include "kernels/conv_route.h"
#include "kernels/cuda_libs.h"

namespace xdnn::cuda {

namespace {

// Errors a kernel raises while it runs (reported by whatever CUDA call comes next, not by the launch).
bool is_async_fault(cudaError_t status) {
  return status == cudaErrorIllegalAddress || status == cudaErrorLaunchFailure ||
         status == cudaErrorMisalignedAddress || status == cudaErrorIllegalInstruction || status == cudaErrorAssert ||
         status == cudaErrorHardwareStackError || status == cudaErrorInvalidPc;
}

}  // namespace

void check(cudaError_t status, const char* call) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the next call does not report it again
  std::string what =
      std::string(call) + " failed: " + cudaGetErrorString(status) + " (" + cudaGetErrorName(status) + ")";
  if (is_async_fault(status) && !cuda_sync_enabled())
    what += "; an earlier kernel faulted: rerun with XDNN_CUDA_SYNC=1 to name it";
  throw Error(what);
}

void check_launch(const char* kernel) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    throw Error(std::string("CUDA kernel ") + kernel + " failed to launch: " + cudaGetErrorString(status));
  sync_for_debug(kernel);
}

// XDNN_CUDA_SYNC=1: wait for the work just queued, so that a fault is reported here, naming its source.
void sync_for_debug(const char* source) {
  if (!cuda_sync_enabled()) return;
  const cudaError_t status = cudaStreamSynchronize(stream());
  if (status == cudaSuccess) return;
  cudaGetLastError();
  throw Error(std::string("CUDA: ") + source + " faulted on the device: " + cudaGetErrorString(status) + " (" +
              cudaGetErrorName(status) + ", found by XDNN_CUDA_SYNC=1)");
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

// Asking for the library versions loads cuBLAS and cuDNN (kernels/cuda_libs.h); one that cannot be loaded is
// named with the reason instead of a version, so `xdnn --version` shows what `--device cuda` would hit.
std::string library_versions() {
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);  // 13000 = 13.0 (the runtime linked in)
  std::string out = "CUDA runtime " + version_str(runtime, 1000, 10, 100);
  try {
    const CublasApi& blas = cublas();
    int major = 0, minor = 0, patch = 0;  // of the cuBLAS library loaded, no device needed
    blas.get_property(MAJOR_VERSION, &major);
    blas.get_property(MINOR_VERSION, &minor);
    blas.get_property(PATCH_LEVEL, &patch);
    out += ", cuBLAS " + std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  } catch (const Error& e) {
    out += std::string(", ") + e.what();
  }
  try {
    const size_t dnn = cudnn().get_version();  // 91300 = 9.13.0 (cuDNN 9: major*10000 + minor*100 + patch)
    out += ", cuDNN " + std::to_string(dnn / 10000) + "." + std::to_string(dnn / 100 % 100) + "." +
           std::to_string(dnn % 100);
  } catch (const Error& e) {
    out += std::string(", ") + e.what();
  }
  return out;
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

void expect_cuda(const Tensor& t, const char* what) {
  if (!t.defined()) throw Error(std::string(what) + ": tensor is undefined");
  if (t.device() != Device::CUDA)
    throw Error(std::string(what) + ": mixed devices: " + t.describe() +
                " is on the cpu, other operands on cuda (move all operands to one device with Tensor::to(Device))");
}

}  // namespace xdnn::cuda
