// cuBLAS and cuDNN handles of the CUDA backend (kernels/*.cpp and *.cu that call the libraries).
// Both handles are created on first use, bound to stream(), and guarded by library_mutex(): a handle
// must not be used by two host threads at once, and ops may be called from parallel_for workers.
#pragma once
#include <cublas_v2.h>
#include <cudnn.h>

#include <mutex>

#include "kernels/cuda_backend.h"

namespace xdnn::cuda {

std::mutex& library_mutex();
cublasHandle_t blas_handle();  // call with library_mutex() held
cudnnHandle_t cudnn_handle();  // call with library_mutex() held
// Throw Error("<call> failed: <status name>") unless the status is success.
void check_cublas(cublasStatus_t status, const char* call);
void check_cudnn(cudnnStatus_t status, const char* call);

}  // namespace xdnn::cuda
