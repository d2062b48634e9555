// The CUDA backend's Tensor-level interface: what engine/ and the CLI may call. Plain C++ (no CUDA
// headers), so every TU can include it in both builds; the definitions exist only when the backend is
// built (kernels/meson.build, XDNN_HAVE_CUDA=1). Callers name cuda:: functions only inside
// `if constexpr (cuda::kBuilt)`: a discarded statement needs no definition ([basic.def.odr]), so the
// CPU-only build has no stub file. The conventions for writing kernels are in kernels/cuda_backend.h.
//
// Every op here has the signature and semantics of the ops:: function of the same name (engine/ops.h),
// takes tensors that are all on Device::CUDA and returns tensors on Device::CUDA.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/tensor.h"

#ifndef XDNN_HAVE_CUDA
#define XDNN_HAVE_CUDA 0
#endif

namespace xdnn::cuda {

inline constexpr bool kBuilt = XDNN_HAVE_CUDA != 0;

// The guard at the top of an ops:: function: true when any operand lives on the GPU.
template <class... Ts>
bool any_on_cuda(const Ts&... ts) {
  return ((ts.device() == Device::CUDA) || ...);
}

// ---- both builds (kernels/device.cpp) ------------------------------------------------------------------
// "cpu" or "cuda" -> Device; for "cuda" checks that the backend is built and a device is present, else
// throws one line saying which and what to do. `what` names the option ("--device").
Device select_device(const std::string& name, const char* what);
// For commands that do not run on the GPU yet: select_device(name, "--device"), then for cuda an Error
// saying that `command` runs on the CPU only for now (never a silent fall-back to the CPU).
void require_cpu_command(const std::string& name, const char* command);
// The text of `xdnn --version`: version, backends compiled in (library versions), devices found.
std::string version_text(const std::string& version);

// ---- devices (kernels/cuda_backend.cpp) ------------------------------------------------------------------
struct DeviceInfo {
  int index = 0;
  std::string name;
  size_t total_bytes = 0;
  int cc_major = 0, cc_minor = 0;
};
// The devices the runtime sees; empty with *reason set ("no CUDA-capable device is detected", "CUDA
// driver version is insufficient ...") when there are none. Never throws.
std::vector<DeviceInfo> devices(std::string* reason);
// "CUDA runtime 13.0, cuBLAS 13.0.2, cuDNN 9.13.0" (the versions of the libraries loaded).
std::string library_versions();
// Throws "<what>: no CUDA device: <reason>" unless a device is usable.
void require_device(const char* what);
// Waits for all work queued on the backend's stream.
void synchronize();

// ---- memory (kernels/memory_pool.cpp) ------------------------------------------------------------------
// Device memory from a caching pool: sizes are rounded up to a bin, freed blocks wait on a per-bin free
// list for the next request of that bin. Plain cudaMalloc, never managed memory. Out of memory ->
// one-line Error with the size requested and the free memory.
void* pool_allocate(size_t bytes);
void pool_release(void* ptr);
// cudaFree of every cached (free) block; also runs at exit.
void empty_cache();
struct PoolStats {
  size_t in_use_bytes = 0;  // handed out (bin sizes)
  size_t cached_bytes = 0;  // on the free lists
  size_t malloc_calls = 0;  // cudaMalloc calls so far
};
PoolStats pool_stats();
// Copies between host and device memory in either direction (synchronous: returns when done).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);
void zero_bytes(void* ptr, size_t bytes);

// ---- matrix products (kernels/blas.cpp, cuBLAS) --------------------------------------------------------
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b);
void matmul_into(const Tensor& a, const Tensor& b, Tensor& c, bool transpose_a, bool transpose_b, double alpha,
                 double beta);
Tensor batched_matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b);

// ---- element-wise (kernels/elementwise.cu) -------------------------------------------------------------
Tensor unary(ops::Unary op, const Tensor& x);
Tensor binary(ops::Binary op, const Tensor& a, const Tensor& b);
Tensor sum_to_shape(const Tensor& g, const Shape& shape);
Tensor scale(const Tensor& x, double a);
Tensor add_scalar(const Tensor& x, double a);
void axpy_inplace(Tensor& y, double a, const Tensor& x);
Tensor stabilize(const Tensor& z, double eps);
Tensor clip(const Tensor& x, double lo, double hi);
void fill(Tensor& x, double value);

// ---- reductions (kernels/reduce.cu) ----------------------------------------------------------------------
double sum_all(const Tensor& x);
double dot_all(const Tensor& a, const Tensor& b);

// ---- softmax and cross-entropy (kernels/softmax.cu) ------------------------------------------------------
Tensor softmax(const Tensor& x, int axis);
Tensor log_softmax(const Tensor& x, int axis);
Tensor softmax_backward(const Tensor& y, const Tensor& dy, int axis);
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy, int axis);
Tensor cross_entropy_per_example(const Tensor& logits, const Tensor& labels);
Tensor cross_entropy_backward(const Tensor& logits, const Tensor& labels, double scale);
Tensor softmax_last_axis(const Tensor& x);
Tensor softmax_last_axis_backward(const Tensor& y, const Tensor& dy);

}  // namespace xdnn::cuda
