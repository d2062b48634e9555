// Parameterised element-wise CUDA ops (CPU twin: engine/cpu/pointwise.cpp); per-element work in
// kernels/pointwise_body.h.
#include "engine/dispatch.h"
#include "kernels/cuda_backend.h"
#include "kernels/pointwise_body.h"

namespace xdnn::cuda {

Tensor pointwise(ops::Pointwise f, const Tensor& x, double a, double b) {
  expect_cuda(x, "pointwise op");
  ops::expect_float(x, "pointwise op");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(), PointwiseBody<T>{x.device_data<T>(), y.device_data<T>(), f, a, b}, "pointwise");
    return 0;
  });
  return y;
}

Tensor pointwise_backward(ops::Pointwise f, const Tensor& x, const Tensor& y, const Tensor& g, double a, double b) {
  expect_cuda(x, "pointwise backward");
  expect_cuda(y, "pointwise backward");
  expect_cuda(g, "pointwise backward");
  ops::expect_float(g, "pointwise backward");
  ops::expect_same_dtype(x, g, "pointwise backward");
  ops::expect_same_dtype(y, g, "pointwise backward");
  ops::expect_shape(g, x.shape(), "pointwise backward");
  ops::expect_shape(y, x.shape(), "pointwise backward");
  Tensor gx = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(),
               PointwiseBackwardBody<T>{x.device_data<T>(), y.device_data<T>(), g.device_data<T>(), gx.device_data<T>(),
                                        f, a, b},
               "pointwise_backward");
    return 0;
  });
  return gx;
}

}  // namespace xdnn::cuda
