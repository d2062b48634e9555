// Kernel bodies of the parameterised element-wise functions (kernels/pointwise.cu), the formulas of
// engine/cpu/pointwise.cpp: y = f(x; a, b) and g ⊙ f'(x) from x and y = f(x).
#pragma once
#include "engine/ops.h"
#include "kernels/common_body.h"

namespace xdnn::cuda {

template <class T>
XDNN_HOST_DEVICE inline T pointwise_value(ops::Pointwise f, T x, double a, double b) {
  using P = ops::Pointwise;
  switch (f) {
    case P::Exp:
      return kexp(x);
    case P::Log:
      return klog(x);
    case P::Sqrt:
      return ksqrt(x);
    case P::Abs:
      return kabs(x);
    case P::Neg:
      return -x;
    case P::Reciprocal:
      return T(1) / x;
    case P::Elu:  // x > 0 ? x : a (e^x − 1)
      return x > T(0) ? x : T(a) * kexpm1(x);
    case P::Selu:  // b (x > 0 ? x : a (e^x − 1))
      return T(b) * (x > T(0) ? x : T(a) * kexpm1(x));
    case P::Softplus:  // log(1 + e^x) without overflow
      return x > T(0) ? x + klog1p(kexp(-x)) : klog1p(kexp(x));
    case P::Softsign:
      return x / (T(1) + kabs(x));
    case P::PowScalar:
      return kpow(x, T(a));
    case P::Sigmoid:
      return T(1) / (T(1) + kexp(-x));
    case P::Tanh:
      return ktanh(x);
    case P::Scale:
      return T(a) * x;
    case P::Clip:
      return x < T(a) ? T(a) : (x > T(b) ? T(b) : x);
    case P::HardSigmoid: {
      const T z = T(a) * x + T(b);
      return z < T(0) ? T(0) : (z > T(1) ? T(1) : z);
    }
    case P::HardSwish:
      return x <= T(-3) ? T(0) : (x >= T(3) ? x : x * (x + T(3)) / T(6));
    case P::Mish: {
      const T sp = x > T(0) ? x + klog1p(kexp(-x)) : klog1p(kexp(x));
      return x * ktanh(sp);
    }
  }
  return x;
}

// f'(x) given x and y = f(x); abs'(0) = 0.
template <class T>
XDNN_HOST_DEVICE inline T pointwise_derivative(ops::Pointwise f, T x, T y, double a, double b) {
  using P = ops::Pointwise;
  switch (f) {
    case P::Exp:
      return y;
    case P::Log:
      return T(1) / x;
    case P::Sqrt:
      return T(0.5) / y;
    case P::Abs:
      return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
    case P::Neg:
      return T(-1);
    case P::Reciprocal:
      return -y * y;
    case P::Elu:
      return x > T(0) ? T(1) : y + T(a);
    case P::Selu:
      return x > T(0) ? T(b) : y + T(a * b);
    case P::Softplus:
      return T(1) / (T(1) + kexp(-x));
    case P::Softsign: {
      const T dd = T(1) + kabs(x);
      return T(1) / (dd * dd);
    }
    case P::PowScalar:
      return a == 0 ? T(0) : T(a) * kpow(x, T(a - 1));
    case P::Sigmoid:
      return y * (T(1) - y);
    case P::Tanh:
      return T(1) - y * y;
    case P::Scale:
      return T(a);
    case P::Clip:
      return x > T(a) && x < T(b) ? T(1) : T(0);
    case P::HardSigmoid: {
      const T z = T(a) * x + T(b);
      return z > T(0) && z < T(1) ? T(a) : T(0);
    }
    case P::HardSwish:
      return x < T(-3) ? T(0) : (x <= T(3) ? x / T(3) + T(0.5) : T(1));
    case P::Mish: {
      const T sp = x > T(0) ? x + klog1p(kexp(-x)) : klog1p(kexp(x));
      const T t = ktanh(sp);
      return t + x * (T(1) - t * t) / (T(1) + kexp(-x));
    }
  }
  return T(0);
}

template <class T>
struct PointwiseBody {
  const T* x;
  T* y;
  ops::Pointwise f;
  double a, b;
  XDNN_HOST_DEVICE void operator()(int64_t i) const { y[i] = pointwise_value(f, x[i], a, b); }
};

template <class T>
struct PointwiseBackwardBody {
  const T *x, *y, *g;
  T* gx;
  ops::Pointwise f;
  double a, b;
  XDNN_HOST_DEVICE void operator()(int64_t i) const { gx[i] = g[i] * pointwise_derivative(f, x[i], y[i], a, b); }
};

}  // namespace xdnn::cuda
