// CPU twins of engine/ops_optim.h: one SGD or Adam step over a parameter tensor. The ops check their
// operands once, here, then call the entry of their device (engine/backend.h): the cpu_* function here or
// the CUDA twin (the CUDA backend's optim.cu).
#include <cmath>
#include <string>

#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/ops_optim.h"

namespace xdnn::ops {
namespace {

void expect_like(const Tensor& t, const Tensor& theta, const char* what) {
  if (!t.defined() || t.shape() != theta.shape() || t.dtype() != theta.dtype() || t.device() != theta.device())
    throw Error(std::string(what) + ": expected " + theta.describe() + ", got " +
                (t.defined() ? t.describe() : std::string("an undefined tensor")));
}

template <class T>
void sgd_update(T* theta, const T* grad, T* buf, int64_t n, const SgdStep& c) {
  const T lr = static_cast<T>(c.lr), wd = static_cast<T>(c.weight_decay), mu = static_cast<T>(c.momentum);
  for (int64_t i = 0; i < n; ++i) {
    T g = grad[i];
    if (c.weight_decay != 0) g = g + wd * theta[i];
    if (buf) {
      buf[i] = c.first ? g : mu * buf[i] + g;  // dampening 0
      g = c.nesterov ? g + mu * buf[i] : buf[i];
    }
    theta[i] = theta[i] - lr * g;
  }
}

// Vectorised (the build has -fno-math-errno, so std::sqrt is the packed sqrt instruction, correctly
// rounded like the scalar one: the same bits). It matters beyond speed: a parameter whose gradient stays
// zero (a dead unit) has m decaying by β₁ per step into the denormal range within an epoch, and every
// scalar operation on a denormal costs a microcode assist (fashion-resnet epoch 2: the step went from 6 %
// to 19 % of the time); packed operations pay one assist per vector, not per element.
template <class T>
void adam_update(T* theta, const T* grad, T* m, T* v, int64_t n, const AdamStep& c) {
  const double bc1 = 1.0 - std::pow(c.beta1, static_cast<double>(c.t));
  const double bc2 = 1.0 - std::pow(c.beta2, static_cast<double>(c.t));
  const T step_size = static_cast<T>(c.lr / bc1), bc2_sqrt = static_cast<T>(std::sqrt(bc2));
  const T b1 = static_cast<T>(c.beta1), b2 = static_cast<T>(c.beta2), eps = static_cast<T>(c.eps);
  const T one_b1 = static_cast<T>(1.0 - c.beta1), one_b2 = static_cast<T>(1.0 - c.beta2);
  const T wd = static_cast<T>(c.weight_decay);
  for (int64_t i = 0; i < n; ++i) {
    T g = grad[i];
    if (c.weight_decay != 0) g = g + wd * theta[i];
    m[i] = b1 * m[i] + one_b1 * g;
    v[i] = b2 * v[i] + one_b2 * g * g;
    const T denom = std::sqrt(v[i]) / bc2_sqrt + eps;
    theta[i] = theta[i] - step_size * (m[i] / denom);
  }
}

}  // namespace

void sgd_step_inplace(Tensor& theta, const Tensor& grad, Tensor& buf, const SgdStep& s) {
  expect_float(theta, "sgd step parameter");
  expect_like(grad, theta, "sgd step gradient");
  if (s.momentum != 0) expect_like(buf, theta, "sgd momentum buffer");
  Tensor none;
  Tensor& b = s.momentum != 0 ? buf : none;
  return backend_of("sgd_step_inplace", theta, grad, b).sgd_step_inplace(theta, grad, b, s);
}

// buf: undefined without momentum.
static void cpu_sgd_step_inplace(Tensor& theta, const Tensor& grad, Tensor& b, const SgdStep& s) {
  dispatch_float(theta.dtype(), [&](auto zero) {
    using T = decltype(zero);
    sgd_update<T>(theta.data<T>(), grad.data<T>(), b.defined() ? b.data<T>() : nullptr, theta.numel(), s);
    return 0;
  });
}

void adam_step_inplace(Tensor& theta, const Tensor& grad, Tensor& m, Tensor& v, const AdamStep& s) {
  expect_float(theta, "adam step parameter");
  expect_like(grad, theta, "adam step gradient");
  expect_like(m, theta, "adam exp_avg");
  expect_like(v, theta, "adam exp_avg_sq");
  if (s.t < 1) throw Error("adam step: the step number must be >= 1, got " + std::to_string(s.t));
  return backend_of("adam_step_inplace", theta, grad, m, v).adam_step_inplace(theta, grad, m, v, s);
}

static void cpu_adam_step_inplace(Tensor& theta, const Tensor& grad, Tensor& m, Tensor& v, const AdamStep& s) {
  dispatch_float(theta.dtype(), [&](auto zero) {
    using T = decltype(zero);
    adam_update<T>(theta.data<T>(), grad.data<T>(), m.data<T>(), v.data<T>(), theta.numel(), s);
    return 0;
  });
}

// This file's entries of the CPU table (engine/cpu/backend_cpu.cpp).
void add_cpu_optim(Backend& b) {
  b.sgd_step_inplace = cpu_sgd_step_inplace;
  b.adam_step_inplace = cpu_adam_step_inplace;
}

}  // namespace xdnn::ops
