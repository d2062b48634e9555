// Batch normalisation on the GPU (CPU twin: engine/cpu/batchnorm.cpp; Ioffe & Szegedy 2015, Algorithm 1
// and its backward pass). x: (N, C, ...) viewed as (N, C, S). Reductions in two fixed-order stages
// (one thread per (n, c) over s, then one per c over n; kernels/batchnorm_body.h): deterministic, and
// the backward sums are the CPU's own order.
#include <string>

#include "engine/dispatch.h"
#include "kernels/batchnorm_body.h"
#include "kernels/cuda_backend.h"

namespace xdnn::cuda {
namespace {

struct View {
  int64_t N, C, S;
};

View view_of(const Tensor& x, const char* what) {
  expect_cuda(x, what);
  ops::expect_float(x, what);
  if (x.ndim() < 2) throw Error(std::string(what) + ": expected input (N, C, ...), got " + x.describe());
  const int64_t nc = x.dim(0) * x.dim(1);
  return {x.dim(0), x.dim(1), x.numel() / (nc > 1 ? nc : 1)};
}

void expect_channels(const Tensor& t, int64_t C, const Tensor& x, const char* what) {
  if (!t.defined() || t.numel() != C || t.dtype() != x.dtype())
    throw Error(std::string(what) + ": expected a " + dtype_name(x.dtype()) + " per-channel tensor (" +
                std::to_string(C) + "), got " + (t.defined() ? t.describe() : std::string("an undefined tensor")));
  expect_cuda(t, what);
}

Tensor scratch(int64_t n) { return Tensor::empty({n}, DType::F64, Device::CUDA); }

}  // namespace

std::vector<Tensor> batchnorm_stats(const Tensor& x) {
  const View v = view_of(x, "batchnorm_stats");
  Tensor mean = Tensor::empty({v.C}, x.dtype(), Device::CUDA), var = Tensor::empty({v.C}, x.dtype(), Device::CUDA);
  Tensor part = scratch(v.N * v.C), mean_d = scratch(v.C), var_d = scratch(v.C);
  const double M = static_cast<double>(v.N * v.S);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.device_data<T>();
    double* pp = part.device_data<double>();
    launch_map(v.N * v.C, BnRowSumBody<T>{px, nullptr, pp, v.C, v.S}, "batchnorm_stats_sum");
    launch_map(v.C, BnChannelMeanBody<T>{pp, mean_d.device_data<double>(), mean.device_data<T>(), v.N, v.C, M},
               "batchnorm_stats_mean");
    // Two-pass variance (no cancellation for large means), around the double mean.
    launch_map(v.N * v.C, BnRowSumBody<T>{px, mean_d.device_data<double>(), pp, v.C, v.S}, "batchnorm_stats_sqdev");
    launch_map(v.C, BnChannelMeanBody<T>{pp, var_d.device_data<double>(), var.device_data<T>(), v.N, v.C, M},
               "batchnorm_stats_var");
    return 0;
  });
  return {mean, var};
}

Tensor batchnorm_forward(const Tensor& x, const Tensor& mean, const Tensor& var, const Tensor& gamma,
                         const Tensor& beta, double eps) {
  const View v = view_of(x, "batchnorm_forward");
  expect_channels(mean, v.C, x, "batchnorm_forward mean");
  expect_channels(var, v.C, x, "batchnorm_forward var");
  expect_channels(gamma, v.C, x, "batchnorm_forward weight");
  expect_channels(beta, v.C, x, "batchnorm_forward bias");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(),
               BnForwardBody<T>{x.device_data<T>(), mean.device_data<T>(), var.device_data<T>(), gamma.device_data<T>(),
                                beta.device_data<T>(), y.device_data<T>(), eps, v.C, v.S},
               "batchnorm_forward");
    return 0;
  });
  return y;
}

std::vector<Tensor> batchnorm_backward(const Tensor& gy, const Tensor& x, const Tensor& mean, const Tensor& var,
                                       const Tensor& gamma, double eps, bool batch_stats, bool per_example) {
  const View v = view_of(x, "batchnorm_backward");
  expect_cuda(gy, "batchnorm_backward");
  ops::expect_same_dtype(gy, x, "batchnorm_backward");
  ops::expect_shape(gy, x.shape(), "batchnorm_backward gradient");
  expect_channels(mean, v.C, x, "batchnorm_backward mean");
  expect_channels(var, v.C, x, "batchnorm_backward var");
  expect_channels(gamma, v.C, x, "batchnorm_backward weight");
  const Shape ps = per_example ? Shape{v.N, v.C} : Shape{v.C};
  Tensor dx = Tensor::empty(x.shape(), x.dtype(), Device::CUDA);
  Tensor dgamma = Tensor::empty(ps, x.dtype(), Device::CUDA), dbeta = Tensor::empty(ps, x.dtype(), Device::CUDA);
  Tensor sg = scratch(v.N * v.C), sgx = scratch(v.N * v.C), tg = scratch(v.C), tgx = scratch(v.C);
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T *px = x.device_data<T>(), *pgy = gy.device_data<T>(), *pm = mean.device_data<T>();
    const T* pv = var.device_data<T>();
    launch_map(v.N * v.C,
               BnBackwardRowBody<T>{pgy, px, pm, pv, eps, v.C, v.S, sg.device_data<double>(), sgx.device_data<double>(),
                                    per_example ? dbeta.device_data<T>() : nullptr,
                                    per_example ? dgamma.device_data<T>() : nullptr},
               "batchnorm_backward_rows");
    launch_map(v.C,
               BnBackwardChannelBody<T>{sg.device_data<double>(), sgx.device_data<double>(), tg.device_data<double>(),
                                        tgx.device_data<double>(), per_example ? nullptr : dbeta.device_data<T>(),
                                        per_example ? nullptr : dgamma.device_data<T>(), v.N, v.C},
               "batchnorm_backward_channels");
    launch_map(x.numel(),
               BnBackwardDxBody<T>{pgy, px, pm, pv, gamma.device_data<T>(), tg.device_data<double>(),
                                   tgx.device_data<double>(), dx.device_data<T>(), eps, batch_stats, v.N, v.C, v.S},
               "batchnorm_backward_dx");
    return 0;
  });
  return {dx, dgamma, dbeta};
}

}  // namespace xdnn::cuda
