// The CUDA table of engine/backend.h, registered when the backend is built (this file is compiled only
// then): the cuda:: functions of kernels/*.cu and kernels/*.cpp, the caching pool, the device probe and
// the backend's part of `xdnn --version`. engine/ reaches all of it through the table only.
#include <cstdio>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "kernels/cuda_fill.h"
#include "kernels/cuda_ops.h"
#include "kernels/cuda_ops_influence.h"
#include "kernels/cuda_sort.h"

namespace xdnn::cuda {
namespace {

void* allocate(size_t bytes, bool zero_fill) {
  void* p = pool_allocate(bytes);
  if (zero_fill) zero_bytes(p, bytes);
  return p;
}

// "" when a device is present and cuBLAS / cuDNN load; else why not, as the CLI's one line continues it.
std::string unusable_reason() {
  std::string reason;
  if (devices(&reason).empty())
    return "no CUDA device: " + reason + " (run on a machine with an NVIDIA GPU and driver, or use --device cpu)";
  try {  // now rather than at the first matrix product: a missing cuBLAS/cuDNN fails before any work
    load_libraries();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string version_part() {
  std::string out = ", cuda (" + library_versions() + ", built for sm_80 and sm_90)";
  std::string reason;
  const std::vector<DeviceInfo> found = devices(&reason);
  if (found.empty()) out += "\nno CUDA device: " + reason;
  for (const DeviceInfo& d : found) {
    char line[256];
    std::snprintf(line, sizeof line, "\ncuda:%d %s, %.1f GiB, compute capability %d.%d", d.index, d.name.c_str(),
                  static_cast<double>(d.total_bytes) / (1 << 30), d.cc_major, d.cc_minor);
    out += line;
  }
  return out;
}

// Training's ReLU: the GPU keeps no bit mask (backward reads x), so the mask stays undefined.
Tensor relu_with_mask_unmasked(const Tensor& x, Tensor&) { return cuda::unary(ops::Unary::Relu, x); }

// Weight and bias gradients in two passes (the CPU fuses them in one pass over gy).
void conv2d_backward_weight_then_bias(const Tensor& x, const Tensor& gy, Tensor& gw, bool accumulate, Tensor& gb,
                                      const ops::Conv2dGeometry& g) {
  cuda::conv2d_backward_weight(x, gy, gw, accumulate, g);
  ops::add_inplace(gb, cuda::conv2d_backward_bias(gy, false));
}

const Backend& cuda_table() {
  static const Backend table = [] {
    Backend b;
    b.name = "cuda";
    b.allocate = allocate;
    b.release = pool_release;
    b.copy_bytes = copy_bytes;
    b.fill = fill;
    b.cast = cuda::cast;
    b.unusable_reason = unusable_reason;
    b.version_text = version_part;
    b.matmul = cuda::matmul;
    b.matmul_into = cuda::matmul_into;
    b.batched_matmul = cuda::batched_matmul;
    b.unary = cuda::unary;
    b.binary = cuda::binary;
    b.sum_to_shape = cuda::sum_to_shape;
    b.scale = cuda::scale;
    b.add_scalar = cuda::add_scalar;
    b.axpy_inplace = cuda::axpy_inplace;
    b.stabilize = cuda::stabilize;
    b.clip = cuda::clip;
    b.sum_all = cuda::sum_all;
    b.dot_all = cuda::dot_all;
    b.conv2d_forward = cuda::conv2d_forward;
    // The flipped weights are the CPU's (ops.h): cuDNN and the im2col route read w as it is.
    b.conv2d_backward_input = [](const Tensor& gy, const Tensor& w, const Shape& x_shape, const ops::Conv2dGeometry& g,
                                 const Tensor&) { return cuda::conv2d_backward_input(gy, w, x_shape, g); };
    b.conv2d_backward_weight = cuda::conv2d_backward_weight;
    b.conv2d_backward_weight_bias = conv2d_backward_weight_then_bias;
    b.conv2d_backward_weight_per_example = cuda::conv2d_backward_weight_per_example;
    b.conv2d_backward_bias = cuda::conv2d_backward_bias;
    b.maxpool2d_forward = cuda::maxpool2d_forward;
    b.maxpool2d_backward = cuda::maxpool2d_backward;
    b.avgpool2d_forward = cuda::avgpool2d_forward;
    b.avgpool2d_backward = cuda::avgpool2d_backward;
    b.leaky_relu = cuda::leaky_relu;
    b.leaky_relu_backward = cuda::leaky_relu_backward;
    b.relu_with_mask = relu_with_mask_unmasked;
    // relu_backward_mask: none (relu_with_mask leaves the mask undefined on the GPU)
    b.sigmoid_backward = cuda::sigmoid_backward;
    b.tanh_backward = cuda::tanh_backward;
    b.softmax = cuda::softmax;
    b.log_softmax = cuda::log_softmax;
    b.softmax_backward = cuda::softmax_backward;
    b.log_softmax_backward = cuda::log_softmax_backward;
    b.cross_entropy_per_example = cuda::cross_entropy_per_example;
    b.cross_entropy_backward = cuda::cross_entropy_backward;
    b.batchnorm_stats = cuda::batchnorm_stats;
    b.batchnorm_forward = cuda::batchnorm_forward;
    b.batchnorm_backward = cuda::batchnorm_backward;
    b.permute_axes = cuda::permute_axes;
    b.gather_rows = cuda::gather_rows;
    b.scatter_add_rows = cuda::scatter_add_rows;
    b.concat_last_axis = cuda::concat_last_axis;
    b.slice_last_axis = cuda::slice_last_axis;
    b.broadcast_to = cuda::broadcast_to;
    b.where = cuda::where;
    b.softmax_last_axis = cuda::softmax_last_axis;
    b.softmax_last_axis_backward = cuda::softmax_last_axis_backward;
    b.layer_norm_forward = cuda::layer_norm_forward;
    b.layer_norm_backward = cuda::layer_norm_backward;
    b.center_last_axis = cuda::center_last_axis;
    b.gelu = cuda::gelu;
    b.gelu_derivative = cuda::gelu_derivative;
    b.erf = cuda::erf;
    b.erf_derivative = cuda::erf_derivative;
    b.lstm_cell_forward = cuda::lstm_cell_forward;
    b.lstm_cell_backward = cuda::lstm_cell_backward;
    b.gru_cell_forward = cuda::gru_cell_forward;
    b.gru_cell_backward = cuda::gru_cell_backward;
    b.rnn_cell_forward = cuda::rnn_cell_forward;
    b.rnn_cell_backward = cuda::rnn_cell_backward;
    b.pointwise = cuda::pointwise;
    b.pointwise_backward = cuda::pointwise_backward;
    b.strided_slice = cuda::strided_slice;
    b.strided_slice_backward = cuda::strided_slice_backward;
    b.transpose_axes = cuda::transpose_axes;
    b.concat_axis = cuda::concat_axis;
    b.pad_axes = cuda::pad_axes;
    b.pad_axes_backward = cuda::pad_axes_backward;
    b.gather_axis = cuda::gather_axis;
    b.gather_axis_backward = cuda::gather_axis_backward;
    b.reduce_axes = cuda::reduce_axes;
    b.reduce_axes_backward = cuda::reduce_axes_backward;
    b.first_nonfinite = cuda::first_nonfinite;
    b.resize = cuda::resize;
    b.resize_backward = cuda::resize_backward;
    b.mod = cuda::mod;
    b.arange = cuda::arange;
    b.factored_gram_accumulate_into = cuda::factored_gram_accumulate_into;
    b.factor_norms = cuda::factor_norms;
    b.axpy_columns_into = cuda::axpy_columns_into;
    b.stable_rank_last_axis = cuda::stable_rank_last_axis;
    b.length_mask = cuda::length_mask;
    b.attention_mask = cuda::attention_mask;
    b.sinusoid_table = cuda::sinusoid_table;
    b.one_hot = cuda::one_hot;
    b.keep_targets = cuda::keep_targets;
    b.argmax_last_axis = cuda::argmax_last_axis;
    b.interpolate_rows = cuda::interpolate_rows;
    b.accumulate_weighted_rows = cuda::accumulate_weighted_rows;
    b.maxpool2d_gather = cuda::maxpool2d_gather;
    b.sgd_step_inplace = cuda::sgd_step_inplace;
    b.adam_step_inplace = cuda::adam_step_inplace;
    return b;
  }();
  return table;
}

// kernels/ is linked whole (meson.build), so this object's constructor runs.
[[maybe_unused]] const bool registered = (register_backend(Device::CUDA, &cuda_table()), true);

}  // namespace
}  // namespace xdnn::cuda
