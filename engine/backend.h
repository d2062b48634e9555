// The device boundary: one table of function pointers per device, one entry per op of engine/ops.h.
//
// ops::f (engine/cpu/<family>.cpp) checks its operands' metadata once (dtypes, shapes, overflow), picks
// the table of the operands' device (backend_of: mixed devices are one error naming both) and calls the
// table's entry f. The CPU table (engine/cpu/backend_cpu.cpp) holds the CPU implementations; the CUDA
// table is registered by the CUDA backend itself (its cuda_table.cpp) when it is built, so engine/ never
// includes the CUDA backend's headers; the Strict table (engine/strict_backend.cpp) runs the CPU
// implementations on tensors whose memory host code may not read, the proof that code above engine/
// computes only through ops::.
//
// Why a struct of function pointers and not an abstract class: a backend has no state of its own (the
// CUDA stream and pool are the backend's globals), there is exactly one instance per device, and a
// plain aggregate is filled entry by entry where each implementation lives, with no class to derive
// from. A missing entry (an op a device does not have) is a null pointer that ops:: turns into one line.
//
// Entries that read tensor values for validation (labels in range, ids in range) do that themselves:
// on a device the values are not on the host, so only the backend can check them.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "engine/conv_epilogue.h"
#include "engine/ops.h"
#include "engine/ops_onnx.h"
#include "engine/ops_optim.h"
#include "engine/tensor.h"

namespace xdnn {

struct Backend {
  const char* name = nullptr;  // "cpu", "cuda", "strict"

  // ---- memory: raw blocks of this device (Storage), copies with the host, fill --------------------------
  void* (*allocate)(size_t bytes, bool zero_fill) = nullptr;
  void (*release)(void* ptr) = nullptr;
  // Either side may be the host (Device::CPU) or this backend's device.
  void (*copy_bytes)(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) = nullptr;
  void (*fill)(Tensor& x, double value) = nullptr;
  // Tensor::to(DType) of a tensor on this device, on the device: each element through double, as on the CPU.
  Tensor (*cast)(const Tensor& x, DType dtype) = nullptr;

  // ---- the device itself: "" when usable (devices present, libraries loaded), else why not ---------------
  std::string (*unusable_reason)() = nullptr;
  // The backend's part of `xdnn --version`, appended to "backends: cpu (...)".
  std::string (*version_text)() = nullptr;

  // ---- ops (semantics: engine/ops.h, same names) -----------------------------------------------------------
  Tensor (*matmul)(const Tensor& a, const Tensor& b, bool ta, bool tb) = nullptr;
  void (*matmul_into)(const Tensor& a, const Tensor& b, Tensor& c, bool ta, bool tb, double alpha,
                      double beta) = nullptr;
  Tensor (*batched_matmul)(const Tensor& a, const Tensor& b, bool ta, bool tb) = nullptr;

  Tensor (*unary)(ops::Unary op, const Tensor& x) = nullptr;
  Tensor (*binary)(ops::Binary op, const Tensor& a, const Tensor& b) = nullptr;
  Tensor (*sum_to_shape)(const Tensor& g, const Shape& shape) = nullptr;
  Tensor (*scale)(const Tensor& x, double a) = nullptr;
  Tensor (*add_scalar)(const Tensor& x, double a) = nullptr;
  void (*axpy_inplace)(Tensor& y, double a, const Tensor& x) = nullptr;
  Tensor (*stabilize)(const Tensor& z, double eps) = nullptr;
  Tensor (*clip)(const Tensor& x, double lo, double hi) = nullptr;
  double (*sum_all)(const Tensor& x) = nullptr;
  double (*dot_all)(const Tensor& a, const Tensor& b) = nullptr;

  Tensor (*conv2d_forward)(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Conv2dGeometry& g) = nullptr;
  // Optional (engine/conv_epilogue.h): null runs conv2d_forward, binary Add and the activation in turn.
  Tensor (*conv2d_forward_fused)(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& residual,
                                 bool residual_first, ops::ConvActivation act, double lo, double hi,
                                 const ops::Conv2dGeometry& g) = nullptr;
  // w_flipped: ops::conv2d_flipped_weights(w) or undefined (ops.h); a backend may ignore it.
  Tensor (*conv2d_backward_input)(const Tensor& gy, const Tensor& w, const Shape& x_shape, const ops::Conv2dGeometry& g,
                                  const Tensor& w_flipped) = nullptr;
  void (*conv2d_backward_weight)(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate,
                                 const ops::Conv2dGeometry& g) = nullptr;
  void (*conv2d_backward_weight_bias)(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate, Tensor& gb,
                                      const ops::Conv2dGeometry& g) = nullptr;
  Tensor (*conv2d_backward_weight_per_example)(const Tensor& x, const Tensor& gy, const Shape& w_shape,
                                               const ops::Conv2dGeometry& g) = nullptr;
  Tensor (*conv2d_backward_bias)(const Tensor& gy, bool per_example) = nullptr;

  Tensor (*maxpool2d_forward)(const Tensor& x, const ops::Pool2dGeometry& g, Tensor& argmax) = nullptr;
  Tensor (*maxpool2d_backward)(const Tensor& gy, const Tensor& argmax, const Shape& x_shape) = nullptr;
  Tensor (*avgpool2d_forward)(const Tensor& x, const ops::Pool2dGeometry& g, ops::PoolDivisor div) = nullptr;
  Tensor (*avgpool2d_backward)(const Tensor& gy, const Shape& x_shape, const ops::Pool2dGeometry& g,
                               ops::PoolDivisor div) = nullptr;

  Tensor (*leaky_relu)(const Tensor& x, double slope) = nullptr;
  Tensor (*leaky_relu_backward)(const Tensor& x, const Tensor& g, double slope, bool positive_grad_only) = nullptr;
  Tensor (*relu_with_mask)(const Tensor& x, Tensor& mask) = nullptr;
  Tensor (*relu_backward_mask)(const Tensor& mask, const Tensor& g, bool positive_grad_only) = nullptr;
  Tensor (*sigmoid_backward)(const Tensor& y, const Tensor& g) = nullptr;
  Tensor (*tanh_backward)(const Tensor& y, const Tensor& g) = nullptr;

  Tensor (*softmax)(const Tensor& x, int axis) = nullptr;
  Tensor (*log_softmax)(const Tensor& x, int axis) = nullptr;
  Tensor (*softmax_backward)(const Tensor& y, const Tensor& dy, int axis) = nullptr;
  Tensor (*log_softmax_backward)(const Tensor& y, const Tensor& dy, int axis) = nullptr;
  Tensor (*cross_entropy_per_example)(const Tensor& logits, const Tensor& labels) = nullptr;
  Tensor (*cross_entropy_backward)(const Tensor& logits, const Tensor& labels, double scale) = nullptr;

  std::vector<Tensor> (*batchnorm_stats)(const Tensor& x) = nullptr;
  Tensor (*batchnorm_forward)(const Tensor& x, const Tensor& mean, const Tensor& var, const Tensor& gamma,
                              const Tensor& beta, double eps) = nullptr;
  std::vector<Tensor> (*batchnorm_backward)(const Tensor& gy, const Tensor& x, const Tensor& mean, const Tensor& var,
                                            const Tensor& gamma, double eps, bool batch_stats,
                                            bool per_example) = nullptr;

  Tensor (*permute_axes)(const Tensor& x, const std::vector<int>& perm) = nullptr;
  Tensor (*gather_rows)(const Tensor& table, const Tensor& ids) = nullptr;
  Tensor (*scatter_add_rows)(const Tensor& g, const Tensor& ids, int64_t num_rows) = nullptr;
  Tensor (*concat_last_axis)(const std::vector<Tensor>& xs) = nullptr;
  Tensor (*slice_last_axis)(const Tensor& x, int64_t begin, int64_t end) = nullptr;
  Tensor (*broadcast_to)(const Tensor& x, const Shape& shape) = nullptr;
  Tensor (*where)(const Tensor& cond, const Tensor& x, const Tensor& y) = nullptr;
  Tensor (*softmax_last_axis)(const Tensor& x) = nullptr;
  Tensor (*softmax_last_axis_backward)(const Tensor& y, const Tensor& dy) = nullptr;
  std::vector<Tensor> (*layer_norm_forward)(const Tensor& x, int64_t d, double eps) = nullptr;
  Tensor (*layer_norm_backward)(const Tensor& dxhat, const Tensor& xhat, const Tensor& rstd) = nullptr;
  Tensor (*center_last_axis)(const Tensor& x) = nullptr;
  Tensor (*gelu)(const Tensor& x, bool tanh_approximation) = nullptr;
  Tensor (*gelu_derivative)(const Tensor& x, bool tanh_approximation) = nullptr;
  Tensor (*erf)(const Tensor& x) = nullptr;
  Tensor (*erf_derivative)(const Tensor& x) = nullptr;

  std::vector<Tensor> (*lstm_cell_forward)(const Tensor& z, const Tensor& c_prev, const Tensor& h_prev,
                                           const Tensor& mask) = nullptr;
  std::vector<Tensor> (*lstm_cell_backward)(const Tensor& dh, const Tensor& dc, const Tensor& a, const Tensor& c_prev,
                                            const Tensor& c, const Tensor& mask) = nullptr;
  std::vector<Tensor> (*gru_cell_forward)(const Tensor& xi, const Tensor& hh, const Tensor& h_prev,
                                          const Tensor& mask) = nullptr;
  std::vector<Tensor> (*gru_cell_backward)(const Tensor& dh, const Tensor& a, const Tensor& hh, const Tensor& h_prev,
                                           const Tensor& mask) = nullptr;
  Tensor (*rnn_cell_forward)(const Tensor& z, const Tensor& h_prev, const Tensor& mask, bool relu) = nullptr;
  std::vector<Tensor> (*rnn_cell_backward)(const Tensor& dh, const Tensor& h, const Tensor& mask, bool relu) = nullptr;

  Tensor (*pointwise)(ops::Pointwise f, const Tensor& x, double a, double b) = nullptr;
  Tensor (*pointwise_backward)(ops::Pointwise f, const Tensor& x, const Tensor& y, const Tensor& g, double a,
                               double b) = nullptr;

  Tensor (*strided_slice)(const Tensor& x, const std::vector<int64_t>& starts, const std::vector<int64_t>& steps,
                          const Shape& out_shape) = nullptr;
  Tensor (*strided_slice_backward)(const Tensor& gy, const std::vector<int64_t>& starts,
                                   const std::vector<int64_t>& steps, const Shape& x_shape) = nullptr;
  Tensor (*transpose_axes)(const Tensor& x, const std::vector<int64_t>& perm) = nullptr;
  Tensor (*concat_axis)(const std::vector<Tensor>& xs, int64_t axis) = nullptr;
  Tensor (*pad_axes)(const Tensor& x, const std::vector<int64_t>& pads_begin, const std::vector<int64_t>& pads_end,
                     ops::PadMode mode, double value) = nullptr;
  Tensor (*pad_axes_backward)(const Tensor& gy, const std::vector<int64_t>& pads_begin,
                              const std::vector<int64_t>& pads_end, ops::PadMode mode, const Shape& x_shape) = nullptr;
  Tensor (*gather_axis)(const Tensor& data, const Tensor& indices, int64_t axis) = nullptr;
  Tensor (*gather_axis_backward)(const Tensor& gy, const Tensor& indices, int64_t axis,
                                 const Shape& data_shape) = nullptr;

  // ---- engine/ops_onnx.h -----------------------------------------------------------------------------------
  std::vector<Tensor> (*reduce_axes)(ops::ReduceOp op, const Tensor& x, const Shape& kept) = nullptr;
  Tensor (*reduce_axes_backward)(ops::ReduceOp op, const Tensor& x, const Tensor& gy, const Tensor& arg,
                                 const Shape& kept) = nullptr;
  int64_t (*first_nonfinite)(const Tensor& x) = nullptr;
  Tensor (*resize)(const Tensor& x, const ops::ResizeTaps& taps) = nullptr;
  Tensor (*resize_backward)(const Tensor& gy, const ops::ResizeTaps& taps, const Shape& x_shape) = nullptr;
  std::vector<Tensor> (*mod)(const Tensor& a, const Tensor& b, bool fmod) = nullptr;
  Tensor (*arange)(const Tensor& start, const Tensor& delta, int64_t n) = nullptr;

  // ---- engine/ops_influence.h -------------------------------------------------------------------------------
  void (*factored_gram_accumulate_into)(Tensor& S, int64_t col0, const Tensor& test_delta, const Tensor& test_act,
                                        const Tensor& train_delta, const Tensor& train_act, double one, double w,
                                        bool add, const Tensor& test_norm, const Tensor& train_norm) = nullptr;
  Tensor (*factor_norms)(const Tensor& delta, const Tensor& act, double one, bool squared) = nullptr;
  void (*axpy_columns_into)(Tensor& y, int64_t col0, double a, const Tensor& x, bool accumulate) = nullptr;

  // ---- engine/ops_sort.h -----------------------------------------------------------------------------------
  Tensor (*stable_rank_last_axis)(const Tensor& x) = nullptr;

  // ---- engine/ops_fill.h and engine/ops_optim.h (values such as lengths and targets checked by ops::) ------
  Tensor (*length_mask)(const Tensor& lengths, int64_t T, bool time_major, bool mean, DType dtype) = nullptr;
  Tensor (*attention_mask)(int64_t N, int64_t T, bool causal, const Tensor& key_padding, DType dtype) = nullptr;
  Tensor (*sinusoid_table)(int64_t T, int64_t d, DType dtype) = nullptr;
  Tensor (*one_hot)(const Tensor& targets, int64_t K, DType dtype) = nullptr;
  Tensor (*keep_targets)(const Tensor& x, const Tensor& targets) = nullptr;
  Tensor (*argmax_last_axis)(const Tensor& x) = nullptr;
  Tensor (*interpolate_rows)(const Tensor& base, const Tensor& delta, const std::vector<double>& alphas) = nullptr;
  void (*accumulate_weighted_rows)(Tensor& sum, const Tensor& g, const std::vector<double>& weights) = nullptr;
  Tensor (*maxpool2d_gather)(const Tensor& x, const Tensor& argmax) = nullptr;
  void (*sgd_step_inplace)(Tensor& theta, const Tensor& grad, Tensor& buf, const ops::SgdStep& s) = nullptr;
  void (*adam_step_inplace)(Tensor& theta, const Tensor& grad, Tensor& m, Tensor& v, const ops::AdamStep& s) = nullptr;
};

// Registers the table of a device (the CUDA backend does it from a static object). The CPU and Strict
// tables are built in.
void register_backend(Device device, const Backend* table);
// The table of `device`, or nullptr when that backend is not built (CUDA with -Dcuda=disabled).
const Backend* find_backend(Device device);
// The table of `device`; throws naming the device when its backend is not built.
const Backend& backend(Device device);

namespace detail {
[[noreturn]] void throw_mixed_devices(const char* what, const Tensor& a, const Tensor& b);
inline void note_device(const char* what, const Tensor*& first, const Tensor& t) {
  if (!t.defined()) return;
  if (!first) {
    first = &t;
  } else if (t.device() != first->device()) {
    throw_mixed_devices(what, *first, t);
  }
}
inline void note_device(const char* what, const Tensor*& first, const std::vector<Tensor>& ts) {
  for (const Tensor& t : ts) note_device(what, first, t);
}
}  // namespace detail

// The table of the operands' device (Tensor or std::vector<Tensor> operands; undefined tensors, such as a
// missing bias, do not count; none defined: the CPU). Operands on two devices: one line naming both.
template <class... Operands>
const Backend& backend_of(const char* what, const Operands&... operands) {
  const Tensor* first = nullptr;
  (detail::note_device(what, first, operands), ...);
  return backend(first ? first->device() : Device::CPU);
}

// The entry `fn` of table `b`, or one line naming the op and the device that lacks it.
template <class Fn>
Fn require_entry(Fn fn, const Backend& b, const char* op) {
  if (!fn) throw Error(std::string(op) + " is not implemented on the " + b.name + " backend");
  return fn;
}

}  // namespace xdnn
