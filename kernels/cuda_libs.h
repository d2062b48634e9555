// cuBLAS and cuDNN of the CUDA backend, loaded on first use (dlopen), and their handles.
//
// Why lazily: linking libcublas (+ libcublasLt, 540 MB) and libcudnn made every process, `xdnn --help`
// included, map and relocate them at start-up: 80–120 ms and ~225 MB resident before main(). A CPU
// command must not pay for a GPU it does not use, and the binary must start on machines without these
// libraries. So nothing here is a DT_NEEDED dependency: the first cuBLAS or cuDNN call opens the library
// (its soname for the major version of the headers we compiled against, then /usr/local/cuda/lib64) and
// resolves every entry point we use, once, into the tables below. A missing library or symbol throws one
// line naming it. The CUDA runtime itself is linked statically (kernels/meson.build says why).
//
// Both handles are created on first use, bound to stream(), and guarded by library_mutex(): a handle
// must not be used by two host threads at once, and ops may be called from parallel_for workers.
#pragma once
#include <cublas_v2.h>
#include <cudnn.h>

#include <mutex>
#include <string>

#include "kernels/cuda_backend.h"

namespace xdnn::cuda {

// The cuBLAS entry points the backend calls (cublas_v2.h maps cublasCreate to cublasCreate_v2 etc.; the
// types come from the header's declarations, so a signature change fails to compile).
struct CublasApi {
  decltype(&::cublasCreate_v2) create = nullptr;
  decltype(&::cublasSetStream_v2) set_stream = nullptr;
  decltype(&::cublasSetMathMode) set_math_mode = nullptr;
  decltype(&::cublasSgemm_v2) sgemm = nullptr;
  decltype(&::cublasDgemm_v2) dgemm = nullptr;
  decltype(&::cublasSgemmStridedBatched) sgemm_strided_batched = nullptr;
  decltype(&::cublasDgemmStridedBatched) dgemm_strided_batched = nullptr;
  decltype(&::cublasGetProperty) get_property = nullptr;
  decltype(&::cublasGetStatusString) get_status_string = nullptr;
};

// The cuDNN entry points the backend calls (kernels/cudnn_conv.cu).
struct CudnnApi {
  decltype(&::cudnnGetVersion) get_version = nullptr;
  decltype(&::cudnnGetErrorString) get_error_string = nullptr;
  decltype(&::cudnnCreate) create = nullptr;
  decltype(&::cudnnSetStream) set_stream = nullptr;
  decltype(&::cudnnCreateTensorDescriptor) create_tensor_descriptor = nullptr;
  decltype(&::cudnnDestroyTensorDescriptor) destroy_tensor_descriptor = nullptr;
  decltype(&::cudnnSetTensor4dDescriptor) set_tensor_4d_descriptor = nullptr;
  decltype(&::cudnnCreateFilterDescriptor) create_filter_descriptor = nullptr;
  decltype(&::cudnnDestroyFilterDescriptor) destroy_filter_descriptor = nullptr;
  decltype(&::cudnnSetFilter4dDescriptor) set_filter_4d_descriptor = nullptr;
  decltype(&::cudnnCreateConvolutionDescriptor) create_convolution_descriptor = nullptr;
  decltype(&::cudnnDestroyConvolutionDescriptor) destroy_convolution_descriptor = nullptr;
  decltype(&::cudnnSetConvolution2dDescriptor) set_convolution_2d_descriptor = nullptr;
  decltype(&::cudnnSetConvolutionGroupCount) set_convolution_group_count = nullptr;
  decltype(&::cudnnSetConvolutionMathType) set_convolution_math_type = nullptr;
  decltype(&::cudnnGetConvolution2dForwardOutputDim) get_convolution_2d_forward_output_dim = nullptr;
  decltype(&::cudnnGetConvolutionForwardAlgorithm_v7) get_convolution_forward_algorithm_v7 = nullptr;
  decltype(&::cudnnGetConvolutionForwardWorkspaceSize) get_convolution_forward_workspace_size = nullptr;
  decltype(&::cudnnConvolutionForward) convolution_forward = nullptr;
  decltype(&::cudnnAddTensor) add_tensor = nullptr;
  decltype(&::cudnnGetConvolutionBackwardDataAlgorithm_v7) get_convolution_backward_data_algorithm_v7 = nullptr;
  decltype(&::cudnnGetConvolutionBackwardDataWorkspaceSize) get_convolution_backward_data_workspace_size = nullptr;
  decltype(&::cudnnConvolutionBackwardData) convolution_backward_data = nullptr;
  decltype(&::cudnnGetConvolutionBackwardFilterAlgorithm_v7) get_convolution_backward_filter_algorithm_v7 = nullptr;
  decltype(&::cudnnGetConvolutionBackwardFilterWorkspaceSize) get_convolution_backward_filter_workspace_size = nullptr;
  decltype(&::cudnnConvolutionBackwardFilter) convolution_backward_filter = nullptr;
};

// The loaded tables (the library is opened on the first call; thread-safe). Throw Error
// "cuBLAS is not available: libcublas.so.13: cannot open shared object file ..." when it cannot be.
const CublasApi& cublas();
const CudnnApi& cudnn();

// dlopen(soname), else dlopen(/usr/local/cuda/lib64/soname); throws one line "<label> is not available:
// <dlerror> (install ... or use --device cpu)" when neither loads. The handle is never closed. Exposed for the tests.
void* open_library(const std::string& soname, const char* label);

std::mutex& library_mutex();
cublasHandle_t blas_handle();  // call with library_mutex() held
cudnnHandle_t cudnn_handle();  // call with library_mutex() held
// Throw Error("<call> failed: <status name>") unless the status is success.
void check_cublas(cublasStatus_t status, const char* call);
void check_cudnn(cudnnStatus_t status, const char* call);

}  // namespace xdnn::cuda
