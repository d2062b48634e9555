// Loading cuBLAS and cuDNN on first use, their handles and status checks (host code, g++). Why lazily:
// kernels/cuda_libs.h.
#include "kernels/cuda_libs.h"

#include <dlfcn.h>

#include <string>

#include "kernels/conv_route.h"

namespace xdnn::cuda {
namespace {

// Where the toolkit installs them; tried after the plain soname (LD_LIBRARY_PATH, the binary's runpath,
// ld.so.cache), so a system-wide or user-chosen copy wins.
constexpr const char* kToolkitLibDir = "/usr/local/cuda/lib64/";

// fn = the address of `symbol` in lib, or an Error naming both. dlsym returns an object pointer; POSIX
// guarantees it converts to a function pointer (conditionally-supported in ISO C++, supported by GCC).
template <class F>
void bind(void* lib, const char* label, const char* symbol, F& fn) {
  void* address = dlsym(lib, symbol);
  if (address == nullptr)
    throw Error(std::string(label) + " is not usable: symbol " + symbol +
                " is missing from the library loaded (older than the headers xdnn was built with?)");
  fn = reinterpret_cast<F>(address);
}

CublasApi load_cublas() {
  const char* label = "cuBLAS";
  void* lib = open_library("libcublas.so." + std::to_string(CUBLAS_VER_MAJOR), label);
  CublasApi api;
  bind(lib, label, "cublasCreate_v2", api.create);
  bind(lib, label, "cublasSetStream_v2", api.set_stream);
  bind(lib, label, "cublasSetMathMode", api.set_math_mode);
  bind(lib, label, "cublasSgemm_v2", api.sgemm);
  bind(lib, label, "cublasDgemm_v2", api.dgemm);
  bind(lib, label, "cublasSgemmStridedBatched", api.sgemm_strided_batched);
  bind(lib, label, "cublasDgemmStridedBatched", api.dgemm_strided_batched);
  bind(lib, label, "cublasGetProperty", api.get_property);
  bind(lib, label, "cublasGetStatusString", api.get_status_string);
  return api;
}

CudnnApi load_cudnn() {
  const char* label = "cuDNN";
  void* lib = open_library("libcudnn.so." + std::to_string(CUDNN_MAJOR), label);
  CudnnApi api;
  bind(lib, label, "cudnnGetVersion", api.get_version);
  bind(lib, label, "cudnnGetErrorString", api.get_error_string);
  bind(lib, label, "cudnnCreate", api.create);
  bind(lib, label, "cudnnSetStream", api.set_stream);
  bind(lib, label, "cudnnCreateTensorDescriptor", api.create_tensor_descriptor);
  bind(lib, label, "cudnnDestroyTensorDescriptor", api.destroy_tensor_descriptor);
  bind(lib, label, "cudnnSetTensor4dDescriptor", api.set_tensor_4d_descriptor);
  bind(lib, label, "cudnnCreateFilterDescriptor", api.create_filter_descriptor);
  bind(lib, label, "cudnnDestroyFilterDescriptor", api.destroy_filter_descriptor);
  bind(lib, label, "cudnnSetFilter4dDescriptor", api.set_filter_4d_descriptor);
  bind(lib, label, "cudnnCreateConvolutionDescriptor", api.create_convolution_descriptor);
  bind(lib, label, "cudnnDestroyConvolutionDescriptor", api.destroy_convolution_descriptor);
  bind(lib, label, "cudnnSetConvolution2dDescriptor", api.set_convolution_2d_descriptor);
  bind(lib, label, "cudnnSetConvolutionGroupCount", api.set_convolution_group_count);
  bind(lib, label, "cudnnSetConvolutionMathType", api.set_convolution_math_type);
  bind(lib, label, "cudnnGetConvolution2dForwardOutputDim", api.get_convolution_2d_forward_output_dim);
  bind(lib, label, "cudnnGetConvolutionForwardAlgorithm_v7", api.get_convolution_forward_algorithm_v7);
  bind(lib, label, "cudnnGetConvolutionForwardWorkspaceSize", api.get_convolution_forward_workspace_size);
  bind(lib, label, "cudnnConvolutionForward", api.convolution_forward);
  bind(lib, label, "cudnnAddTensor", api.add_tensor);
  bind(lib, label, "cudnnGetConvolutionBackwardDataAlgorithm_v7", api.get_convolution_backward_data_algorithm_v7);
  bind(lib, label, "cudnnGetConvolutionBackwardDataWorkspaceSize", api.get_convolution_backward_data_workspace_size);
  bind(lib, label, "cudnnConvolutionBackwardData", api.convolution_backward_data);
  bind(lib, label, "cudnnGetConvolutionBackwardFilterAlgorithm_v7", api.get_convolution_backward_filter_algorithm_v7);
  bind(lib, label, "cudnnGetConvolutionBackwardFilterWorkspaceSize",
       api.get_convolution_backward_filter_workspace_size);
  bind(lib, label, "cudnnConvolutionBackwardFilter", api.convolution_backward_filter);
  return api;
}

}  // namespace

void* open_library(const std::string& soname, const char* label) {
  // RTLD_LOCAL: the symbols serve only our tables; RTLD_NOW: a broken install fails here, not mid-run.
  if (void* lib = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL)) return lib;
  const std::string first_error = dlerror();
  if (void* lib = dlopen((kToolkitLibDir + soname).c_str(), RTLD_NOW | RTLD_LOCAL)) return lib;
  dlerror();
  throw Error(std::string(label) + " is not available: " + first_error +
              " (install the CUDA libraries in /usr/local/cuda/lib64 or on LD_LIBRARY_PATH, or use --device cpu)");
}

// A failed load is not cached: the next call tries again and throws the same line.
const CublasApi& cublas() {
  static const CublasApi api = load_cublas();
  return api;
}

const CudnnApi& cudnn() {
  static const CudnnApi api = load_cudnn();
  return api;
}

void load_libraries() {
  cublas();
  cudnn();
}

void check_cublas(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw Error(std::string(call) + " failed: " + cublas().get_status_string(status));
}

void check_cudnn(cudnnStatus_t status, const char* call) {
  if (status != CUDNN_STATUS_SUCCESS) throw Error(std::string(call) + " failed: " + cudnn().get_error_string(status));
}

std::mutex& library_mutex() {
  static std::mutex* m = new std::mutex;
  return *m;
}

cublasHandle_t blas_handle() {
  static cublasHandle_t handle = nullptr;
  if (!handle) {
    const CublasApi& api = cublas();
    cublasHandle_t h = nullptr;
    check_cublas(api.create(&h), "cublasCreate");
    check_cublas(api.set_stream(h, stream()), "cublasSetStream");
    // No tensor-core down-conversion of fp32 products (TF32): results stay within 1e-4 of the CPU.
    check_cublas(api.set_math_mode(h, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    handle = h;
  }
  return handle;
}

cudnnHandle_t cudnn_handle() {
  static cudnnHandle_t handle = nullptr;
  if (!handle) {
    const CudnnApi& api = cudnn();
    cudnnHandle_t h = nullptr;
    check_cudnn(api.create(&h), "cudnnCreate");
    check_cudnn(api.set_stream(h, stream()), "cudnnSetStream");
    handle = h;
  }
  return handle;
}

}  // namespace xdnn::cuda
