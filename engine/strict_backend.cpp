// Device::Strict's table (engine/strict_backend.h).
#include "engine/strict_backend.h"

#include <cstdlib>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

namespace xdnn {

// The one place that may relabel a tensor's device (Tensor::viewed_on is private).
struct StrictAccess {
  static Tensor as_cpu(const Tensor& t) { return t.device() == Device::Strict ? t.viewed_on(Device::CPU) : t; }
  static Tensor as_strict(const Tensor& t) { return t.viewed_on(Device::Strict); }
};

namespace {

// One argument of a table entry on its way to the CPU implementation: tensors are seen as CPU tensors,
// an output tensor (Tensor&) is handed back as a strict one, everything else passes through.
template <class A>
struct HostArg {
  A value;
  explicit HostArg(A v) : value(std::forward<A>(v)) {}
  A get() { return std::forward<A>(value); }
  void hand_back() {}
};
template <>
struct HostArg<const Tensor&> {
  Tensor value;
  explicit HostArg(const Tensor& t) : value(StrictAccess::as_cpu(t)) {}
  const Tensor& get() { return value; }
  void hand_back() {}
};
template <>
struct HostArg<Tensor&> {
  Tensor& caller;
  Tensor value;
  explicit HostArg(Tensor& t) : caller(t), value(StrictAccess::as_cpu(t)) {}
  Tensor& get() { return value; }
  void hand_back() { caller = value.defined() ? StrictAccess::as_strict(value) : value; }
};
template <>
struct HostArg<const std::vector<Tensor>&> {
  std::vector<Tensor> value;
  explicit HostArg(const std::vector<Tensor>& ts) {
    for (const Tensor& t : ts) value.push_back(StrictAccess::as_cpu(t));
  }
  const std::vector<Tensor>& get() { return value; }
  void hand_back() {}
};

Tensor to_strict(const Tensor& t) { return t.defined() ? StrictAccess::as_strict(t) : t; }
std::vector<Tensor> to_strict(std::vector<Tensor> ts) {
  for (Tensor& t : ts) t = to_strict(t);
  return ts;
}
double to_strict(double v) { return v; }
int64_t to_strict(int64_t v) { return v; }

// The Strict entry for the table member `Entry`: the CPU table's entry on host views of the operands.
template <auto Entry>
struct StrictCall;
template <class R, class... A, R (*Backend::*Entry)(A...)>
struct StrictCall<Entry> {
  static R call(A... args) {
    std::tuple<HostArg<A>...> host{HostArg<A>(std::forward<A>(args))...};
    const auto run = [&](HostArg<A>&... h) { return (cpu_backend().*Entry)(h.get()...); };
    if constexpr (std::is_void_v<R>) {
      std::apply(run, host);
      std::apply([](HostArg<A>&... h) { (h.hand_back(), ...); }, host);
    } else {
      R result = std::apply(run, host);
      std::apply([](HostArg<A>&... h) { (h.hand_back(), ...); }, host);
      return to_strict(std::move(result));
    }
  }
  static const Backend& cpu_backend() { return backend(Device::CPU); }
};

// Strict memory is host memory like the CPU's (64-byte aligned); only the label differs.
void* strict_allocate(size_t bytes, bool zero_fill) {
  const size_t rounded = bytes == 0 ? 64 : (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw Error("out of memory allocating " + std::to_string(bytes) + " bytes (strict device)");
  if (zero_fill) std::memset(p, 0, rounded);
  return p;
}
void strict_release(void* p) { std::free(p); }
void strict_copy_bytes(void* dst, Device, const void* src, Device, size_t bytes) {
  if (bytes) std::memcpy(dst, src, bytes);
}
void strict_fill(Tensor& x, double value) {
  Tensor host = StrictAccess::as_cpu(x);
  host.fill(value);
}
Tensor strict_cast(const Tensor& x, DType dtype) { return StrictAccess::as_strict(StrictAccess::as_cpu(x).to(dtype)); }
std::string strict_usable() { return ""; }
std::string strict_version() { return ""; }

}  // namespace

const Backend& strict_backend_table() {
  static const Backend table = [] {
    Backend b;
    b.name = "strict";
    b.allocate = strict_allocate;
    b.release = strict_release;
    b.copy_bytes = strict_copy_bytes;
    b.fill = strict_fill;
    b.cast = strict_cast;
    b.unusable_reason = strict_usable;
    b.version_text = strict_version;
    b.matmul = StrictCall<&Backend::matmul>::call;
    b.matmul_into = StrictCall<&Backend::matmul_into>::call;
    b.batched_matmul = StrictCall<&Backend::batched_matmul>::call;
    b.unary = StrictCall<&Backend::unary>::call;
    b.binary = StrictCall<&Backend::binary>::call;
    b.sum_to_shape = StrictCall<&Backend::sum_to_shape>::call;
    b.scale = StrictCall<&Backend::scale>::call;
    b.add_scalar = StrictCall<&Backend::add_scalar>::call;
    b.axpy_inplace = StrictCall<&Backend::axpy_inplace>::call;
    b.stabilize = StrictCall<&Backend::stabilize>::call;
    b.clip = StrictCall<&Backend::clip>::call;
    b.sum_all = StrictCall<&Backend::sum_all>::call;
    b.dot_all = StrictCall<&Backend::dot_all>::call;
    b.conv2d_forward = StrictCall<&Backend::conv2d_forward>::call;
    b.conv2d_forward_fused = StrictCall<&Backend::conv2d_forward_fused>::call;
    b.conv2d_backward_input = StrictCall<&Backend::conv2d_backward_input>::call;
    b.conv2d_backward_weight = StrictCall<&Backend::conv2d_backward_weight>::call;
    b.conv2d_backward_weight_bias = StrictCall<&Backend::conv2d_backward_weight_bias>::call;
    b.conv2d_backward_weight_per_example = StrictCall<&Backend::conv2d_backward_weight_per_example>::call;
    b.conv2d_backward_bias = StrictCall<&Backend::conv2d_backward_bias>::call;
    b.maxpool2d_forward = StrictCall<&Backend::maxpool2d_forward>::call;
    b.maxpool2d_backward = StrictCall<&Backend::maxpool2d_backward>::call;
    b.avgpool2d_forward = StrictCall<&Backend::avgpool2d_forward>::call;
    b.avgpool2d_backward = StrictCall<&Backend::avgpool2d_backward>::call;
    b.leaky_relu = StrictCall<&Backend::leaky_relu>::call;
    b.leaky_relu_backward = StrictCall<&Backend::leaky_relu_backward>::call;
    b.relu_with_mask = StrictCall<&Backend::relu_with_mask>::call;
    b.relu_backward_mask = StrictCall<&Backend::relu_backward_mask>::call;
    b.sigmoid_backward = StrictCall<&Backend::sigmoid_backward>::call;
    b.tanh_backward = StrictCall<&Backend::tanh_backward>::call;
    b.softmax = StrictCall<&Backend::softmax>::call;
    b.log_softmax = StrictCall<&Backend::log_softmax>::call;
    b.softmax_backward = StrictCall<&Backend::softmax_backward>::call;
    b.log_softmax_backward = StrictCall<&Backend::log_softmax_backward>::call;
    b.cross_entropy_per_example = StrictCall<&Backend::cross_entropy_per_example>::call;
    b.cross_entropy_backward = StrictCall<&Backend::cross_entropy_backward>::call;
    b.batchnorm_stats = StrictCall<&Backend::batchnorm_stats>::call;
    b.batchnorm_forward = StrictCall<&Backend::batchnorm_forward>::call;
    b.batchnorm_backward = StrictCall<&Backend::batchnorm_backward>::call;
    b.permute_axes = StrictCall<&Backend::permute_axes>::call;
    b.gather_rows = StrictCall<&Backend::gather_rows>::call;
    b.scatter_add_rows = StrictCall<&Backend::scatter_add_rows>::call;
    b.concat_last_axis = StrictCall<&Backend::concat_last_axis>::call;
    b.slice_last_axis = StrictCall<&Backend::slice_last_axis>::call;
    b.broadcast_to = StrictCall<&Backend::broadcast_to>::call;
    b.where = StrictCall<&Backend::where>::call;
    b.softmax_last_axis = StrictCall<&Backend::softmax_last_axis>::call;
    b.softmax_last_axis_backward = StrictCall<&Backend::softmax_last_axis_backward>::call;
    b.layer_norm_forward = StrictCall<&Backend::layer_norm_forward>::call;
    b.layer_norm_backward = StrictCall<&Backend::layer_norm_backward>::call;
    b.center_last_axis = StrictCall<&Backend::center_last_axis>::call;
    b.gelu = StrictCall<&Backend::gelu>::call;
    b.gelu_derivative = StrictCall<&Backend::gelu_derivative>::call;
    b.erf = StrictCall<&Backend::erf>::call;
    b.erf_derivative = StrictCall<&Backend::erf_derivative>::call;
    b.lstm_cell_forward = StrictCall<&Backend::lstm_cell_forward>::call;
    b.lstm_cell_backward = StrictCall<&Backend::lstm_cell_backward>::call;
    b.gru_cell_forward = StrictCall<&Backend::gru_cell_forward>::call;
    b.gru_cell_backward = StrictCall<&Backend::gru_cell_backward>::call;
    b.rnn_cell_forward = StrictCall<&Backend::rnn_cell_forward>::call;
    b.rnn_cell_backward = StrictCall<&Backend::rnn_cell_backward>::call;
    b.pointwise = StrictCall<&Backend::pointwise>::call;
    b.pointwise_backward = StrictCall<&Backend::pointwise_backward>::call;
    b.strided_slice = StrictCall<&Backend::strided_slice>::call;
    b.strided_slice_backward = StrictCall<&Backend::strided_slice_backward>::call;
    b.transpose_axes = StrictCall<&Backend::transpose_axes>::call;
    b.concat_axis = StrictCall<&Backend::concat_axis>::call;
    b.pad_axes = StrictCall<&Backend::pad_axes>::call;
    b.pad_axes_backward = StrictCall<&Backend::pad_axes_backward>::call;
    b.gather_axis = StrictCall<&Backend::gather_axis>::call;
    b.gather_axis_backward = StrictCall<&Backend::gather_axis_backward>::call;
    b.reduce_axes = StrictCall<&Backend::reduce_axes>::call;
    b.reduce_axes_backward = StrictCall<&Backend::reduce_axes_backward>::call;
    b.first_nonfinite = StrictCall<&Backend::first_nonfinite>::call;
    b.resize = StrictCall<&Backend::resize>::call;
    b.resize_backward = StrictCall<&Backend::resize_backward>::call;
    b.mod = StrictCall<&Backend::mod>::call;
    b.arange = StrictCall<&Backend::arange>::call;
    b.factored_gram_accumulate_into = StrictCall<&Backend::factored_gram_accumulate_into>::call;
    b.factor_norms = StrictCall<&Backend::factor_norms>::call;
    b.axpy_columns_into = StrictCall<&Backend::axpy_columns_into>::call;
    b.stable_rank_last_axis = StrictCall<&Backend::stable_rank_last_axis>::call;
    b.length_mask = StrictCall<&Backend::length_mask>::call;
    b.attention_mask = StrictCall<&Backend::attention_mask>::call;
    b.sinusoid_table = StrictCall<&Backend::sinusoid_table>::call;
    b.one_hot = StrictCall<&Backend::one_hot>::call;
    b.keep_targets = StrictCall<&Backend::keep_targets>::call;
    b.argmax_last_axis = StrictCall<&Backend::argmax_last_axis>::call;
    b.interpolate_rows = StrictCall<&Backend::interpolate_rows>::call;
    b.accumulate_weighted_rows = StrictCall<&Backend::accumulate_weighted_rows>::call;
    b.maxpool2d_gather = StrictCall<&Backend::maxpool2d_gather>::call;
    b.sgd_step_inplace = StrictCall<&Backend::sgd_step_inplace>::call;
    b.adam_step_inplace = StrictCall<&Backend::adam_step_inplace>::call;
    return b;
  }();
  return table;
}

}  // namespace xdnn
