// The CUDA backend's op implementations and device services, for kernels/ and for tests of kernel bodies.
// Plain C++ (no CUDA headers). The definitions exist only when the backend is built (kernels/meson.build,
// XDNN_HAVE_CUDA=1); kernels/cuda_table.cpp then registers them as the CUDA table of engine/backend.h,
// which is the only way engine/ and everything above reach them. The conventions for writing kernels are
// in kernels/cuda_backend.h.
//
// Every op here has the signature and semantics of the ops:: function of the same name (engine/ops.h),
// takes tensors that are all on Device::CUDA and returns tensors on Device::CUDA; ops:: has checked the
// operands' dtypes, shapes and devices before it calls the table.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/ops_onnx.h"
#include "engine/tensor.h"

#ifndef XDNN_HAVE_CUDA
#define XDNN_HAVE_CUDA 0
#endif

namespace xdnn::cuda {

inline constexpr bool kBuilt = XDNN_HAVE_CUDA != 0;

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
// Loads cuBLAS and cuDNN now (they are opened on first use otherwise, kernels/cuda_libs.h); throws one
// line naming the library that cannot be loaded and why.
void load_libraries();
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
Tensor cast(const Tensor& x, DType dtype);  // Tensor::to(DType) on the device

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

// ---- convolution (kernels/conv.cu: im2col + cuBLAS; kernels/cudnn_conv.cu: cuDNN) ------------------------
// The ops:: names pick the path by conv_algo(): Auto = cuDNN where it can express the geometry (symmetric
// padding), else im2col; XDNN_CUDA_CONV=im2col|cudnn|auto sets the initial value. The choice is a default,
// not a measurement: measure per shape on the target GPU (bench) before relying on it.
enum class ConvAlgo { Auto, Im2col, Cudnn };
void set_conv_algo(ConvAlgo a);
ConvAlgo conv_algo();
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Conv2dGeometry& g);
Tensor conv2d_backward_input(const Tensor& gy, const Tensor& w, const Shape& x_shape, const ops::Conv2dGeometry& g);
void conv2d_backward_weight(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate,
                            const ops::Conv2dGeometry& g);
Tensor conv2d_backward_weight_per_example(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                          const ops::Conv2dGeometry& g);
Tensor conv2d_backward_bias(const Tensor& gy, bool per_example);
// The two paths, unchecked (the ops:: names check). The cuDNN ones fall back to im2col when cuDNN
// offers no deterministic algorithm within its workspace limit.
Tensor conv2d_forward_im2col(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Conv2dGeometry& g);
Tensor conv2d_backward_input_im2col(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                                    const ops::Conv2dGeometry& g);
void conv2d_backward_weight_im2col(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate,
                                   const ops::Conv2dGeometry& g);
bool cudnn_supports(const ops::Conv2dGeometry& g);
Tensor conv2d_forward_cudnn(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Conv2dGeometry& g);
Tensor conv2d_backward_input_cudnn(const Tensor& gy, const Tensor& w, const Shape& x_shape,
                                   const ops::Conv2dGeometry& g);
void conv2d_backward_weight_cudnn(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate,
                                  const ops::Conv2dGeometry& g);

// ---- pooling (kernels/pooling.cu) -------------------------------------------------------------------------
Tensor maxpool2d_forward(const Tensor& x, const ops::Pool2dGeometry& g, Tensor& argmax);
Tensor maxpool2d_backward(const Tensor& gy, const Tensor& argmax, const Shape& x_shape);
Tensor avgpool2d_forward(const Tensor& x, const ops::Pool2dGeometry& g, ops::PoolDivisor div);
Tensor avgpool2d_backward(const Tensor& gy, const Shape& x_shape, const ops::Pool2dGeometry& g, ops::PoolDivisor div);

// ---- batch norm (kernels/batchnorm.cu), layer norm and centring (kernels/layer_norm.cu) --------------------
std::vector<Tensor> batchnorm_stats(const Tensor& x);
Tensor batchnorm_forward(const Tensor& x, const Tensor& mean, const Tensor& var, const Tensor& gamma,
                         const Tensor& beta, double eps);
std::vector<Tensor> batchnorm_backward(const Tensor& gy, const Tensor& x, const Tensor& mean, const Tensor& var,
                                       const Tensor& gamma, double eps, bool batch_stats, bool per_example);
std::vector<Tensor> layer_norm_forward(const Tensor& x, int64_t d, double eps);
Tensor layer_norm_backward(const Tensor& dxhat, const Tensor& xhat, const Tensor& rstd);
Tensor center_last_axis(const Tensor& x);

// ---- activations (kernels/activations.cu) and the pointwise family (kernels/pointwise.cu) ------------------
Tensor leaky_relu(const Tensor& x, double slope);
Tensor leaky_relu_backward(const Tensor& x, const Tensor& g, double slope, bool positive_grad_only);
Tensor sigmoid_backward(const Tensor& y, const Tensor& g);
Tensor tanh_backward(const Tensor& y, const Tensor& g);
// ops::dropout_mask drawn on the CPU (same Rng stream, same mask) and copied to the GPU.
Tensor dropout_mask(const Shape& shape, double p, Rng& rng, DType dtype);
Tensor gelu(const Tensor& x, bool tanh_approximation);
Tensor gelu_derivative(const Tensor& x, bool tanh_approximation);
Tensor erf(const Tensor& x);
Tensor erf_derivative(const Tensor& x);
Tensor pointwise(ops::Pointwise f, const Tensor& x, double a, double b);
Tensor pointwise_backward(ops::Pointwise f, const Tensor& x, const Tensor& y, const Tensor& g, double a, double b);

// ---- sequence data movement (kernels/sequence.cu) and data movement (kernels/data_movement.cu) ------------
Tensor permute_axes(const Tensor& x, const std::vector<int>& perm);
Tensor gather_rows(const Tensor& table, const Tensor& ids);
Tensor scatter_add_rows(const Tensor& g, const Tensor& ids, int64_t num_rows);
Tensor concat_last_axis(const std::vector<Tensor>& xs);
Tensor slice_last_axis(const Tensor& x, int64_t begin, int64_t end);
Tensor broadcast_to(const Tensor& x, const Shape& shape);
Tensor where(const Tensor& cond, const Tensor& x, const Tensor& y);
Tensor strided_slice(const Tensor& x, const std::vector<int64_t>& starts, const std::vector<int64_t>& steps,
                     const Shape& out_shape);
Tensor strided_slice_backward(const Tensor& gy, const std::vector<int64_t>& starts, const std::vector<int64_t>& steps,
                              const Shape& x_shape);
Tensor transpose_axes(const Tensor& x, const std::vector<int64_t>& perm);
Tensor concat_axis(const std::vector<Tensor>& xs, int64_t axis);
Tensor pad_axes(const Tensor& x, const std::vector<int64_t>& pads_begin, const std::vector<int64_t>& pads_end,
                ops::PadMode mode, double value);
Tensor pad_axes_backward(const Tensor& gy, const std::vector<int64_t>& pads_begin, const std::vector<int64_t>& pads_end,
                         ops::PadMode mode, const Shape& x_shape);
Tensor gather_axis(const Tensor& data, const Tensor& indices, int64_t axis);
Tensor gather_axis_backward(const Tensor& gy, const Tensor& indices, int64_t axis, const Shape& data_shape);

// ---- engine/ops_onnx.h (kernels/reduce_axes.cu, kernels/resize.cu, kernels/mod_range.cu) -------------------
std::vector<Tensor> reduce_axes(ops::ReduceOp op, const Tensor& x, const Shape& kept);
Tensor reduce_axes_backward(ops::ReduceOp op, const Tensor& x, const Tensor& gy, const Tensor& arg, const Shape& kept);
int64_t first_nonfinite(const Tensor& x);
Tensor resize(const Tensor& x, const ops::ResizeTaps& taps);
Tensor resize_backward(const Tensor& gy, const ops::ResizeTaps& taps, const Shape& x_shape);
std::vector<Tensor> mod(const Tensor& a, const Tensor& b, bool fmod);
Tensor arange(const Tensor& start, const Tensor& delta, int64_t n);

// ---- recurrent cells (kernels/rnn_cells.cu) ---------------------------------------------------------------
std::vector<Tensor> lstm_cell_forward(const Tensor& z, const Tensor& c_prev, const Tensor& h_prev, const Tensor& mask);
std::vector<Tensor> lstm_cell_backward(const Tensor& dh, const Tensor& dc, const Tensor& a, const Tensor& c_prev,
                                       const Tensor& c, const Tensor& mask);
std::vector<Tensor> gru_cell_forward(const Tensor& xi, const Tensor& hh, const Tensor& h_prev, const Tensor& mask);
std::vector<Tensor> gru_cell_backward(const Tensor& dh, const Tensor& a, const Tensor& hh, const Tensor& h_prev,
                                      const Tensor& mask);
Tensor rnn_cell_forward(const Tensor& z, const Tensor& h_prev, const Tensor& mask, bool relu);
std::vector<Tensor> rnn_cell_backward(const Tensor& dh, const Tensor& h, const Tensor& mask, bool relu);

}  // namespace xdnn::cuda
