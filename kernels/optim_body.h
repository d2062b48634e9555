// Kernel bodies of kernels/optim.cu (CPU twin: engine/cpu/optim.cpp): one element of an SGD or Adam
// step. Scalars arrive already cast to T (as the CPU op casts them), so a body computes the CPU op's
// formula in the same order; tests/test_ops_optim.cpp runs them on the host against it.
#pragma once
#include "kernels/host_device.h"

namespace xdnn::cuda {

template <class T>
struct SgdStepBody {
  T* theta;
  const T* grad;
  T* buf;  // null without momentum
  T lr, wd, mu;
  bool decay, nesterov, first;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    T g = grad[i];
    if (decay) g = g + wd * theta[i];
    if (buf) {
      buf[i] = first ? g : mu * buf[i] + g;  // dampening 0
      g = nesterov ? g + mu * buf[i] : buf[i];
    }
    theta[i] = theta[i] - lr * g;
  }
};

template <class T>
struct AdamStepBody {
  T* theta;
  const T* grad;
  T* m;
  T* v;
  T step_size, bc2_sqrt, b1, b2, one_b1, one_b2, eps, wd;
  bool decay;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    T g = grad[i];
    if (decay) g = g + wd * theta[i];
    m[i] = b1 * m[i] + one_b1 * g;
    v[i] = b2 * v[i] + one_b2 * g * g;
    const T denom = ksqrt(v[i]) / bc2_sqrt + eps;
    theta[i] = theta[i] - step_size * (m[i] / denom);
  }
};

}  // namespace xdnn::cuda
