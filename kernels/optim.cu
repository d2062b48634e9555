// SGD and Adam steps on the GPU (CPU twin: engine/cpu/optim.cpp; bodies: kernels/optim_body.h). The
// scalars are cast to the parameter dtype on the host, as the CPU op casts them.
#include <cmath>

#include "engine/dispatch.h"
#include "kernels/cuda_backend.h"
#include "kernels/cuda_fill.h"
#include "kernels/optim_body.h"

namespace xdnn::cuda {

void sgd_step_inplace(Tensor& theta, const Tensor& grad, Tensor& buf, const ops::SgdStep& s) {
  expect_cuda(theta, "sgd step");
  expect_cuda(grad, "sgd step");
  if (buf.defined()) expect_cuda(buf, "sgd step");
  dispatch_float(theta.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(
        theta.numel(),
        SgdStepBody<T>{theta.device_data<T>(), grad.device_data<T>(), buf.defined() ? buf.device_data<T>() : nullptr,
                       static_cast<T>(s.lr), static_cast<T>(s.weight_decay), static_cast<T>(s.momentum),
                       s.weight_decay != 0, s.nesterov, s.first},
        "sgd_step");
    return 0;
  });
}

void adam_step_inplace(Tensor& theta, const Tensor& grad, Tensor& m, Tensor& v, const ops::AdamStep& s) {
  expect_cuda(theta, "adam step");
  expect_cuda(grad, "adam step");
  expect_cuda(m, "adam step");
  expect_cuda(v, "adam step");
  const double bc1 = 1.0 - std::pow(s.beta1, static_cast<double>(s.t));
  const double bc2 = 1.0 - std::pow(s.beta2, static_cast<double>(s.t));
  dispatch_float(theta.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(theta.numel(),
               AdamStepBody<T>{theta.device_data<T>(), grad.device_data<T>(), m.device_data<T>(), v.device_data<T>(),
                               static_cast<T>(s.lr / bc1), static_cast<T>(std::sqrt(bc2)), static_cast<T>(s.beta1),
                               static_cast<T>(s.beta2), static_cast<T>(1.0 - s.beta1), static_cast<T>(1.0 - s.beta2),
                               static_cast<T>(s.eps), static_cast<T>(s.weight_decay), s.weight_decay != 0},
               "adam_step");
    return 0;
  });
}

}  // namespace xdnn::cuda
