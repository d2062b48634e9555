// Layer normalisation and row centring on the GPU (CPU twin: engine/cpu/sequence.cpp). Row statistics
// are one thread per row (a serial sum in the CPU op's order; deterministic), the outputs one thread
// per element. A warp-per-row reduction would be faster for long rows; it changes the summation order
// and is left for when it can be measured.
#include <string>

#include "engine/dispatch.h"
#include "kernels/cuda_backend.h"
#include "kernels/layer_norm_body.h"

namespace xdnn::cuda {

std::vector<Tensor> layer_norm_forward(const Tensor& x, int64_t d, double eps) {
  expect_cuda(x, "layer_norm");
  ops::expect_float(x, "layer_norm");
  if (d <= 0 || x.numel() % d)
    throw Error("layer_norm: cannot normalise groups of " + std::to_string(d) + " in " + x.describe());
  const int64_t rows = x.numel() / d;
  Tensor xhat = Tensor::empty(x.shape(), x.dtype(), Device::CUDA),
         rstd = Tensor::empty({rows}, x.dtype(), Device::CUDA);
  Tensor mean = Tensor::empty({rows}, x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(rows, LnRowStatsBody<T>{x.device_data<T>(), mean.device_data<T>(), rstd.device_data<T>(), d, eps},
               "layer_norm_stats");
    launch_map(
        x.numel(),
        LnXhatBody<T>{x.device_data<T>(), mean.device_data<T>(), rstd.device_data<T>(), xhat.device_data<T>(), d},
        "layer_norm_xhat");
    return 0;
  });
  return {xhat, rstd};
}

Tensor layer_norm_backward(const Tensor& dxhat, const Tensor& xhat, const Tensor& rstd) {
  expect_cuda(dxhat, "layer_norm backward");
  expect_cuda(xhat, "layer_norm backward");
  expect_cuda(rstd, "layer_norm backward");
  ops::expect_float(xhat, "layer_norm backward");
  ops::expect_same_dtype(dxhat, xhat, "layer_norm backward");
  ops::expect_same_dtype(rstd, xhat, "layer_norm backward");
  ops::expect_shape(dxhat, xhat.shape(), "layer_norm backward");
  const int64_t rows = rstd.numel(), d = rows ? xhat.numel() / rows : 0;
  if (rows * d != xhat.numel())
    throw Error("layer_norm backward: " + rstd.describe() + " does not divide " + xhat.describe() + " into rows");
  Tensor dx = Tensor::empty(xhat.shape(), xhat.dtype(), Device::CUDA);
  Tensor mg = Tensor::empty({rows}, xhat.dtype(), Device::CUDA),
         mgh = Tensor::empty({rows}, xhat.dtype(), Device::CUDA);
  dispatch_float(xhat.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(rows,
               LnBackwardRowBody<T>{dxhat.device_data<T>(), xhat.device_data<T>(), mg.device_data<T>(),
                                    mgh.device_data<T>(), d},
               "layer_norm_backward_rows");
    launch_map(xhat.numel(),
               LnBackwardBody<T>{dxhat.device_data<T>(), xhat.device_data<T>(), rstd.device_data<T>(),
                                 mg.device_data<T>(), mgh.device_data<T>(), dx.device_data<T>(), d},
               "layer_norm_backward");
    return 0;
  });
  return dx;
}

Tensor center_last_axis(const Tensor& x) {
  expect_cuda(x, "center_last_axis");
  ops::expect_float(x, "center_last_axis");
  const int64_t D = x.dim(-1), rows = D ? x.numel() / D : 0;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), Device::CUDA), mean = Tensor::empty({rows}, x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(rows, RowMeanBody<T>{x.device_data<T>(), mean.device_data<T>(), D}, "center_last_axis_mean");
    launch_map(x.numel(), CenterBody<T>{x.device_data<T>(), mean.device_data<T>(), y.device_data<T>(), D},
               "center_last_axis");
    return 0;
  });
  return y;
}

}  // namespace xdnn::cuda
