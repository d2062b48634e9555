// 2-D max and average pooling on the GPU (CPU twin: engine/cpu/pooling.cpp). Forward: one thread per
// output. Backward without atomics (kernels/pooling_body.h): average pooling gathers per input element,
// max pooling routes gy to the arg-max (first-maximum rule of the forward pass) one plane per thread.
#include <string>

#include "engine/dispatch.h"
#include "kernels/cuda_backend.h"
#include "kernels/pooling_body.h"

namespace xdnn::cuda {
namespace {

void check_pool(const Tensor& x, const ops::Pool2dGeometry& g, const char* what) {
  expect_cuda(x, what);
  ops::expect_float(x, what);
  if (x.ndim() != 4) throw Error(std::string(what) + ": expected input (N, C, H, W), got " + x.describe());
  if (g.kernel_h < 1 || g.kernel_w < 1 || g.stride_h < 1 || g.stride_w < 1 || g.dilation_h < 1 || g.dilation_w < 1)
    throw Error(std::string(what) + ": kernel, stride and dilation must be >= 1");
}

PoolDims pool_dims(const Shape& xs, const Shape& ys) { return {xs[2], xs[3], ys[2], ys[3]}; }

}  // namespace

Tensor maxpool2d_forward(const Tensor& x, const ops::Pool2dGeometry& g, Tensor& argmax) {
  check_pool(x, g, "maxpool2d_forward");
  const Shape ys = ops::pool2d_output_shape(x.shape(), g);
  Tensor y = Tensor::empty(ys, x.dtype(), Device::CUDA);
  argmax = Tensor::empty(ys, DType::I64, Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(y.numel(),
               MaxPoolBody<T>{x.device_data<T>(), y.device_data<T>(), argmax.device_data<int64_t>(),
                              pool_dims(x.shape(), ys), g},
               "maxpool2d_forward");
    return 0;
  });
  return y;
}

Tensor maxpool2d_backward(const Tensor& gy, const Tensor& argmax, const Shape& x_shape) {
  expect_cuda(gy, "maxpool2d_backward");
  expect_cuda(argmax, "maxpool2d_backward");
  ops::expect_float(gy, "maxpool2d_backward");
  if (argmax.dtype() != DType::I64 || argmax.shape() != gy.shape() || x_shape.size() != 4 || gy.ndim() != 4)
    throw Error("maxpool2d_backward: gradient " + gy.describe() + " does not match arg-max " + argmax.describe());
  Tensor gx = Tensor::empty(x_shape, gy.dtype(), Device::CUDA);
  dispatch_float(gy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(x_shape[0] * x_shape[1],
               MaxPoolBackwardBody<T>{gy.device_data<T>(), argmax.device_data<int64_t>(), gx.device_data<T>(),
                                      x_shape[2] * x_shape[3], gy.dim(2) * gy.dim(3)},
               "maxpool2d_backward");
    return 0;
  });
  return gx;
}

Tensor avgpool2d_forward(const Tensor& x, const ops::Pool2dGeometry& g, ops::PoolDivisor div) {
  check_pool(x, g, "avgpool2d_forward");
  const Shape ys = ops::pool2d_output_shape(x.shape(), g);
  Tensor y = Tensor::empty(ys, x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(y.numel(), AvgPoolBody<T>{x.device_data<T>(), y.device_data<T>(), pool_dims(x.shape(), ys), g, div},
               "avgpool2d_forward");
    return 0;
  });
  return y;
}

Tensor avgpool2d_backward(const Tensor& gy, const Shape& x_shape, const ops::Pool2dGeometry& g, ops::PoolDivisor div) {
  expect_cuda(gy, "avgpool2d_backward");
  ops::expect_float(gy, "avgpool2d_backward");
  const Shape ys = ops::pool2d_output_shape(x_shape, g);
  ops::expect_shape(gy, ys, "avgpool2d_backward gradient");
  Tensor gx = Tensor::empty(x_shape, gy.dtype(), Device::CUDA);
  dispatch_float(gy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(gx.numel(),
               AvgPoolBackwardBody<T>{gy.device_data<T>(), gx.device_data<T>(), pool_dims(x_shape, ys), g, div},
               "avgpool2d_backward");
    return 0;
  });
  return gx;
}

}  // namespace xdnn::cuda
