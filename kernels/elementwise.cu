// Element-wise CUDA ops (CPU twin: engine/cpu/elementwise.cpp). The per-element work is in
// kernels/elementwise_body.h; this file checks operands, allocates outputs and launches.
#include <string>
#include <type_traits>

#include "engine/dispatch.h"
#include "kernels/cuda_backend.h"
#include "kernels/elementwise_body.h"

namespace xdnn::cuda {

Tensor unary(ops::Unary op, const Tensor& x) {
  expect_cuda(x, "unary op");
  ops::expect_float(x, "unary op");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(), UnaryBody<T>{op, x.device_data<T>(), y.device_data<T>()}, "unary");
    return 0;
  });
  return y;
}

Tensor binary(ops::Binary op, const Tensor& a, const Tensor& b) {
  expect_cuda(a, "binary op");
  expect_cuda(b, "binary op");
  ops::expect_float(a, "binary op");
  ops::expect_float(b, "binary op");
  ops::expect_same_dtype(a, b, "binary op");
  const bool same = a.shape() == b.shape();
  Broadcast2 geo;  // unused when the shapes are equal
  const Shape out_shape = same ? a.shape() : broadcast_geometry(a.shape(), b.shape(), geo);
  Tensor y = Tensor::empty(out_shape, a.dtype(), Device::CUDA);
  dispatch_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(y.numel(), BinaryBody<T>{op, a.device_data<T>(), b.device_data<T>(), y.device_data<T>(), same, geo},
               "binary");
    return 0;
  });
  return y;
}

Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  expect_cuda(g, "sum_to_shape");
  ops::expect_float(g, "sum_to_shape");
  const SumToShapeGeometry geo = sum_to_shape_geometry(g.shape(), shape);
  Tensor out = Tensor::empty(shape, g.dtype(), Device::CUDA);
  dispatch_float(g.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(out.numel(), SumToShapeBody<T>{g.device_data<T>(), out.device_data<T>(), geo}, "sum_to_shape");
    return 0;
  });
  return out;
}

Tensor scale(const Tensor& x, double a) {
  expect_cuda(x, "scale");
  ops::expect_float(x, "scale");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(), ScaleBody<T>{x.device_data<T>(), y.device_data<T>(), static_cast<T>(a)}, "scale");
    return 0;
  });
  return y;
}

Tensor add_scalar(const Tensor& x, double a) {
  expect_cuda(x, "add_scalar");
  ops::expect_float(x, "add_scalar");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(), AddScalarBody<T>{x.device_data<T>(), y.device_data<T>(), static_cast<T>(a)}, "add_scalar");
    return 0;
  });
  return y;
}

void axpy_inplace(Tensor& y, double a, const Tensor& x) {
  expect_cuda(y, "axpy");
  expect_cuda(x, "axpy");
  ops::expect_float(y, "axpy");
  ops::expect_same_dtype(y, x, "axpy");
  if (y.numel() != x.numel()) throw Error("axpy: " + x.describe() + " added to " + y.describe());
  dispatch_float(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(), AxpyBody<T>{x.device_data<T>(), y.device_data<T>(), static_cast<T>(a), a == 1.0}, "axpy");
    return 0;
  });
}

Tensor stabilize(const Tensor& z, double eps) {
  expect_cuda(z, "stabilize");
  ops::expect_float(z, "stabilize");
  Tensor y = Tensor::empty(z.shape(), z.dtype(), Device::CUDA);
  dispatch_float(z.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(z.numel(), StabilizeBody<T>{z.device_data<T>(), y.device_data<T>(), static_cast<T>(eps)}, "stabilize");
    return 0;
  });
  return y;
}

Tensor clip(const Tensor& x, double lo, double hi) {
  expect_cuda(x, "clip");
  ops::expect_float(x, "clip");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(), ClipBody<T>{x.device_data<T>(), y.device_data<T>(), static_cast<T>(lo), static_cast<T>(hi)},
               "clip");
    return 0;
  });
  return y;
}

void fill(Tensor& x, double value) {
  expect_cuda(x, "fill");
  switch (x.dtype()) {
    case DType::F32:
      launch_map(x.numel(), FillBody<float>{x.device_data<float>(), static_cast<float>(value)}, "fill");
      break;
    case DType::F64:
      launch_map(x.numel(), FillBody<double>{x.device_data<double>(), value}, "fill");
      break;
    case DType::I64:
      launch_map(x.numel(), FillBody<int64_t>{x.device_data<int64_t>(), static_cast<int64_t>(value)}, "fill");
      break;
  }
}

// Tensor::to(DType) of a CUDA tensor: one CastBody launch per (from, to) pair, no copy through the host.
Tensor cast(const Tensor& x, DType dtype) {
  expect_cuda(x, "cast");
  Tensor y = Tensor::empty(x.shape(), dtype, Device::CUDA);
  const auto into = [&](const auto* src) {
    using From = std::remove_const_t<std::remove_pointer_t<decltype(src)>>;
    switch (dtype) {
      case DType::F32:
        launch_map(x.numel(), CastBody<From, float>{src, y.device_data<float>()}, "cast");
        break;
      case DType::F64:
        launch_map(x.numel(), CastBody<From, double>{src, y.device_data<double>()}, "cast");
        break;
      case DType::I64:
        launch_map(x.numel(), CastBody<From, int64_t>{src, y.device_data<int64_t>()}, "cast");
        break;
    }
  };
  switch (x.dtype()) {
    case DType::F32:
      into(x.device_data<float>());
      break;
    case DType::F64:
      into(x.device_data<double>());
      break;
    case DType::I64:
      into(x.device_data<int64_t>());
      break;
  }
  return y;
}

}  // namespace xdnn::cuda
