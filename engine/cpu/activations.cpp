// Element-wise activation ops that need more than one operand or a parameter (leaky ReLU, the
// derivatives of sigmoid and tanh from their outputs). Every element is independent.
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "kernels/cuda_ops.h"

namespace xdnn::ops {
namespace {

// Memory-bound, vectorised passes: below ≈ 64 k elements a fork-join costs more than a second thread saves.
constexpr int64_t kGrain = 1 << 16;

// y[i] = f(a[i], b[i]) for same-shape float tensors.
template <class F>
Tensor map2(const Tensor& a, const Tensor& b, const char* what, F f) {
  expect_float(a, what);
  expect_same_dtype(a, b, what);
  expect_shape(b, a.shape(), what);
  Tensor y = Tensor::empty(a.shape(), a.dtype());
  dispatch_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* py = y.data<T>();
    parallel_for(a.numel(), kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) py[i] = f(pa[i], pb[i]);
    });
    return 0;
  });
  return y;
}

}  // namespace

Tensor leaky_relu(const Tensor& x, double slope) {
  if constexpr (cuda::kBuilt)
    if (cuda::any_on_cuda(x)) return cuda::leaky_relu(x, slope);
  expect_float(x, "leaky_relu");
  Tensor y(x.shape(), x.dtype());
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const T a = static_cast<T>(slope);
    parallel_for(x.numel(), kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) py[i] = px[i] > T(0) ? px[i] : a * px[i];
    });
    return 0;
  });
  return y;
}

Tensor leaky_relu_backward(const Tensor& x, const Tensor& g, double slope, bool positive_grad_only) {
  if constexpr (cuda::kBuilt)
    if (cuda::any_on_cuda(x, g)) return cuda::leaky_relu_backward(x, g, slope, positive_grad_only);
  return dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T a = static_cast<T>(slope);
    // One lambda per case, so each loop is branch-free and vectorises (a flag tested per element does not).
    if (positive_grad_only)
      return map2(x, g, "leaky_relu_backward",
                  [a](T xv, T gv) { return gv > T(0) ? (xv > T(0) ? gv : a * gv) : T(0); });
    if (slope == 0.0)  // ReLU: exactly zero where the unit is off (as PyTorch's threshold_backward)
      return map2(x, g, "leaky_relu_backward", [](T xv, T gv) { return xv > T(0) ? gv : T(0); });
    return map2(x, g, "leaky_relu_backward", [a](T xv, T gv) { return xv > T(0) ? gv : a * gv; });
  });
}

Tensor sigmoid_backward(const Tensor& y, const Tensor& g) {
  if constexpr (cuda::kBuilt)
    if (cuda::any_on_cuda(y, g)) return cuda::sigmoid_backward(y, g);
  return dispatch_float(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    return map2(y, g, "sigmoid_backward", [](T yv, T gv) { return gv * yv * (T(1) - yv); });
  });
}

Tensor tanh_backward(const Tensor& y, const Tensor& g) {
  if constexpr (cuda::kBuilt)
    if (cuda::any_on_cuda(y, g)) return cuda::tanh_backward(y, g);
  return dispatch_float(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    return map2(y, g, "tanh_backward", [](T yv, T gv) { return gv * (T(1) - yv * yv); });
  });
}

Tensor dropout_mask(const Shape& shape, double p, Rng& rng, DType dtype) {
  if (!(p >= 0.0 && p <= 1.0)) throw Error("dropout: probability " + std::to_string(p) + " is outside [0, 1]");
  Tensor m(shape, dtype);
  dispatch_float(dtype, [&](auto zero) {
    using T = decltype(zero);
    T* pm = m.data<T>();
    const T keep_scale = p < 1.0 ? static_cast<T>(1.0 / (1.0 - p)) : T(0);
    // Serial: the stream of random numbers is consumed in flat order, so masks do not depend on threads.
    for (int64_t i = 0; i < m.numel(); ++i) pm[i] = rng.uniform() >= p ? keep_scale : T(0);
    return 0;
  });
  return m;
}

}  // namespace xdnn::ops
