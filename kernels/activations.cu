// Activation CUDA ops (CPU twins: engine/cpu/activations.cpp, and GELU / erf of engine/cpu/sequence.cpp).
// Per-element work in kernels/activations_body.h; this file checks operands, allocates and launches.
#include "engine/dispatch.h"
#include "kernels/activations_body.h"
#include "kernels/cuda_backend.h"

namespace xdnn::cuda {
namespace {

// Operands of a two-input element-wise op: both on the GPU, float, same dtype and shape.
void check_pair(const Tensor& a, const Tensor& b, const char* what) {
  expect_cuda(a, what);
  expect_cuda(b, what);
  ops::expect_float(a, what);
  ops::expect_same_dtype(a, b, what);
  ops::expect_shape(b, a.shape(), what);
}

Tensor gelu_family(const Tensor& x, GeluFn f, const char* what) {
  expect_cuda(x, what);
  ops::expect_float(x, what);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(), GeluFamilyBody<T>{x.device_data<T>(), y.device_data<T>(), f}, what);
    return 0;
  });
  return y;
}

Tensor sigmoid_tanh_backward(const Tensor& y, const Tensor& g, bool tanh_output, const char* what) {
  check_pair(y, g, what);
  Tensor gx = Tensor::empty(y.shape(), y.dtype(), Device::CUDA);
  dispatch_float(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(y.numel(),
               SigmoidTanhBackwardBody<T>{y.device_data<T>(), g.device_data<T>(), gx.device_data<T>(), tanh_output},
               what);
    return 0;
  });
  return gx;
}

}  // namespace

Tensor leaky_relu(const Tensor& x, double slope) {
  expect_cuda(x, "leaky_relu");
  ops::expect_float(x, "leaky_relu");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(), LeakyReluBody<T>{x.device_data<T>(), y.device_data<T>(), static_cast<T>(slope)},
               "leaky_relu");
    return 0;
  });
  return y;
}

Tensor leaky_relu_backward(const Tensor& x, const Tensor& g, double slope, bool positive_grad_only) {
  check_pair(x, g, "leaky_relu_backward");
  Tensor gx = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(),
               LeakyReluBackwardBody<T>{x.device_data<T>(), g.device_data<T>(), gx.device_data<T>(),
                                        static_cast<T>(slope), positive_grad_only},
               "leaky_relu_backward");
    return 0;
  });
  return gx;
}

Tensor sigmoid_backward(const Tensor& y, const Tensor& g) {
  return sigmoid_tanh_backward(y, g, false, "sigmoid_backward");
}
Tensor tanh_backward(const Tensor& y, const Tensor& g) { return sigmoid_tanh_backward(y, g, true, "tanh_backward"); }

// Drawn on the CPU with the engine's Rng (the same stream of numbers in flat order) and copied: the same
// seed gives the same mask on either device.
Tensor dropout_mask(const Shape& shape, double p, Rng& rng, DType dtype) {
  return ops::dropout_mask(shape, p, rng, dtype).to(Device::CUDA);
}

Tensor gelu(const Tensor& x, bool tanh_approximation) {
  return gelu_family(x, tanh_approximation ? GeluFn::GeluTanh : GeluFn::Gelu, "gelu");
}
Tensor gelu_derivative(const Tensor& x, bool tanh_approximation) {
  return gelu_family(x, tanh_approximation ? GeluFn::GeluTanhDerivative : GeluFn::GeluDerivative, "gelu");
}
Tensor erf(const Tensor& x) { return gelu_family(x, GeluFn::Erf, "erf"); }
Tensor erf_derivative(const Tensor& x) { return gelu_family(x, GeluFn::ErfDerivative, "erf"); }

}  // namespace xdnn::cuda
