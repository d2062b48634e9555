// Softmax, log-softmax, cross-entropy and the last-axis softmax on the GPU (CPU twins:
// engine/cpu/softmax.cpp, engine/cpu/sequence.cpp). One thread per line, kernels/softmax_body.h.
#include <string>
#include <vector>

#include "engine/dispatch.h"
#include "engine/shape_util.h"
#include "kernels/cuda_backend.h"
#include "kernels/index_check.h"
#include "kernels/softmax_body.h"

namespace xdnn::cuda {
namespace {

Tensor softmax_impl(const Tensor& x, int axis, bool log) {
  const char* what = log ? "log_softmax" : "softmax";
  expect_cuda(x, what);
  ops::expect_float(x, what);
  const AxisLines l = axis_lines(x.shape(), axis, what);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(l.outer * l.inner, SoftmaxLineBody<T>{x.device_data<T>(), y.device_data<T>(), l.D, l.inner, log}, what);
    return 0;
  });
  return y;
}

Tensor softmax_backward_impl(const Tensor& y, const Tensor& dy, int axis, bool log) {
  const char* what = log ? "log_softmax_backward" : "softmax_backward";
  expect_cuda(y, what);
  expect_cuda(dy, what);
  ops::expect_float(y, what);
  ops::expect_same_dtype(y, dy, what);
  ops::expect_shape(dy, y.shape(), what);
  const AxisLines l = axis_lines(y.shape(), axis, what);
  Tensor dx = Tensor::empty(y.shape(), y.dtype(), Device::CUDA);
  dispatch_float(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(
        l.outer * l.inner,
        SoftmaxBackwardLineBody<T>{y.device_data<T>(), dy.device_data<T>(), dx.device_data<T>(), l.D, l.inner, log},
        what);
    return 0;
  });
  return dx;
}

// The CPU op's checks and messages; the labels are checked on the device, only a bad one comes back to be named.
void check_logits_labels(const Tensor& logits, const Tensor& labels) {
  expect_cuda(logits, "cross_entropy logits");
  ops::expect_float(logits, "cross_entropy logits");
  if (logits.ndim() != 2) throw Error("cross_entropy: expected logits (N, C), got " + logits.describe());
  if (!labels.defined() || labels.dtype() != DType::I64 || labels.ndim() != 1 || labels.dim(0) != logits.dim(0))
    throw Error("cross_entropy: expected int64 labels (" + std::to_string(logits.dim(0)) + "), got " +
                (labels.defined() ? labels.describe() : std::string("an undefined tensor")));
  expect_cuda(labels, "cross_entropy labels");
  const int64_t C = logits.dim(1);
  if (const int64_t n = first_outside(labels, 0, C); n >= 0)
    throw Error("cross_entropy: label " + std::to_string(id_at(labels, n)) + " of sample " + std::to_string(n) +
                " is outside the valid range [0, " + std::to_string(C - 1) + "]");
}

}  // namespace

Tensor softmax(const Tensor& x, int axis) { return softmax_impl(x, axis, false); }
Tensor log_softmax(const Tensor& x, int axis) { return softmax_impl(x, axis, true); }
Tensor softmax_backward(const Tensor& y, const Tensor& dy, int axis) {
  return softmax_backward_impl(y, dy, axis, false);
}
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy, int axis) {
  return softmax_backward_impl(y, dy, axis, true);
}

Tensor cross_entropy_per_example(const Tensor& logits, const Tensor& labels) {
  check_logits_labels(logits, labels);
  const int64_t N = logits.dim(0), C = logits.dim(1);
  Tensor loss = Tensor::empty({N}, logits.dtype(), Device::CUDA);
  dispatch_float(logits.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(N, CrossEntropyBody<T>{logits.device_data<T>(), labels.device_data<int64_t>(), loss.device_data<T>(), C},
               "cross_entropy");
    return 0;
  });
  return loss;
}

Tensor cross_entropy_backward(const Tensor& logits, const Tensor& labels, double scale) {
  check_logits_labels(logits, labels);
  const int64_t N = logits.dim(0), C = logits.dim(1);
  Tensor g = Tensor::empty(logits.shape(), logits.dtype(), Device::CUDA);
  dispatch_float(logits.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(N,
               CrossEntropyBackwardBody<T>{logits.device_data<T>(), labels.device_data<int64_t>(), g.device_data<T>(),
                                           C, scale},
               "cross_entropy_backward");
    return 0;
  });
  return g;
}

Tensor softmax_last_axis(const Tensor& x) {
  expect_cuda(x, "softmax");
  ops::expect_float(x, "softmax");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  const int64_t D = x.dim(-1), rows = D ? x.numel() / D : 0;
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(rows, SoftmaxRowBody<T>{x.device_data<T>(), y.device_data<T>(), D}, "softmax_last_axis");
    return 0;
  });
  return y;
}

Tensor softmax_last_axis_backward(const Tensor& y, const Tensor& dy) {
  expect_cuda(y, "softmax backward");
  expect_cuda(dy, "softmax backward");
  ops::expect_same_dtype(y, dy, "softmax backward");
  ops::expect_shape(dy, y.shape(), "softmax backward");
  Tensor dx = Tensor::empty(y.shape(), y.dtype(), Device::CUDA);
  const int64_t D = y.dim(-1), rows = D ? y.numel() / D : 0;
  dispatch_float(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(rows, SoftmaxRowBackwardBody<T>{y.device_data<T>(), dy.device_data<T>(), dx.device_data<T>(), D},
               "softmax_last_axis_backward");
    return 0;
  });
  return dx;
}

}  // namespace xdnn::cuda
