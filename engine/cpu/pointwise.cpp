// Parameterised element-wise functions and their derivatives (ONNX activations and unary math).
// Every element is independent, so any thread split gives the same bits.
#include <cmath>
#include <cstring>

#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/parallel.h"

namespace xdnn::ops {

namespace {

constexpr int64_t kGrain = 1 << 14;

template <class T>
T pw_forward(Pointwise f, T x, double a, double b) {
  switch (f) {
    case Pointwise::Exp:
      return std::exp(x);
    case Pointwise::Log:
      return std::log(x);
    case Pointwise::Sqrt:
      return std::sqrt(x);
    case Pointwise::Abs:
      return std::abs(x);
    case Pointwise::Neg:
      return -x;
    case Pointwise::Reciprocal:
      return T(1) / x;
    case Pointwise::Elu:  // x > 0 ? x : a (e^x − 1)
      return x > T(0) ? x : T(a) * std::expm1(x);
    case Pointwise::Selu:  // b (x > 0 ? x : a (e^x − 1))
      return T(b) * (x > T(0) ? x : T(a) * std::expm1(x));
    case Pointwise::Softplus:  // log(1 + e^x), computed without overflow
      return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
    case Pointwise::Softsign:
      return x / (T(1) + std::abs(x));
    case Pointwise::PowScalar:
      return std::pow(x, T(a));
    case Pointwise::Sigmoid:
      return T(1) / (T(1) + std::exp(-x));
    case Pointwise::Tanh:
      return std::tanh(x);
    case Pointwise::Scale:
      return T(a) * x;
    case Pointwise::Clip:
      return x < T(a) ? T(a) : (x > T(b) ? T(b) : x);
    case Pointwise::HardSigmoid: {
      const T z = T(a) * x + T(b);
      return z < T(0) ? T(0) : (z > T(1) ? T(1) : z);
    }
    case Pointwise::HardSwish:
      return x <= T(-3) ? T(0) : (x >= T(3) ? x : x * (x + T(3)) / T(6));
    case Pointwise::Mish: {  // softplus without overflow, then tanh
      const T sp = x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
      return x * std::tanh(sp);
    }
  }
  return x;
}

// f'(x), given x and y = f(x).
template <class T>
T pw_derivative(Pointwise f, T x, T y, double a, double b) {
  switch (f) {
    case Pointwise::Exp:
      return y;
    case Pointwise::Log:
      return T(1) / x;
    case Pointwise::Sqrt:
      return T(0.5) / y;
    case Pointwise::Abs:  // sign(x), 0 at 0
      return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
    case Pointwise::Neg:
      return T(-1);
    case Pointwise::Reciprocal:
      return -y * y;
    case Pointwise::Elu:
      return x > T(0) ? T(1) : y + T(a);
    case Pointwise::Selu:
      return x > T(0) ? T(b) : y + T(a * b);
    case Pointwise::Softplus:
      return T(1) / (T(1) + std::exp(-x));
    case Pointwise::Softsign: {
      const T d = T(1) + std::abs(x);
      return T(1) / (d * d);
    }
    case Pointwise::PowScalar:
      return a == 0 ? T(0) : T(a) * std::pow(x, T(a - 1));
    case Pointwise::Sigmoid:
      return y * (T(1) - y);
    case Pointwise::Tanh:
      return T(1) - y * y;
    case Pointwise::Scale:
      return T(a);
    case Pointwise::Clip:
      return x > T(a) && x < T(b) ? T(1) : T(0);
    case Pointwise::HardSigmoid: {
      const T z = T(a) * x + T(b);
      return z > T(0) && z < T(1) ? T(a) : T(0);
    }
    case Pointwise::HardSwish:
      return x < T(-3) ? T(0) : (x <= T(3) ? x / T(3) + T(0.5) : T(1));
    case Pointwise::Mish: {  // tanh(sp) + x sech²(sp) σ(x)
      const T sp = x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
      const T t = std::tanh(sp);
      return t + x * (T(1) - t * t) / (T(1) + std::exp(-x));
    }
  }
  return T(0);
}

}  // namespace

Tensor pointwise(Pointwise f, const Tensor& x, double a, double b) {
  expect_float(x, "pointwise op");
  return backend_of("pointwise", x).pointwise(f, x, a, b);
}

static Tensor cpu_pointwise(Pointwise f, const Tensor& x, double a, double b) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());  // every element written below
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    if (f == Pointwise::Clip) {  // ReLU6 in every MobileNet block: pw_forward's expression in a loop that vectorises
      // Captured by value: through references, every store to py[i] might change lo, hi or the pointers, so
      // GCC reloaded them per element and kept the loop scalar (16 % of a MobileNetV2 saliency pass).
      const T lo = T(a), hi = T(b);
      parallel_for(x.numel(), kGrain, [px, py, lo, hi](int64_t s, int64_t e) {
        for (int64_t i = s; i < e; ++i) py[i] = px[i] < lo ? lo : (px[i] > hi ? hi : px[i]);
      });
      return 0;
    }
    parallel_for(x.numel(), kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) py[i] = pw_forward<T>(f, px[i], a, b);
    });
    return 0;
  });
  return y;
}

Tensor pointwise_backward(Pointwise f, const Tensor& x, const Tensor& y, const Tensor& g, double a, double b) {
  expect_float(g, "pointwise backward");
  expect_same_dtype(x, g, "pointwise backward");
  expect_shape(g, x.shape(), "pointwise backward");
  return backend_of("pointwise_backward", x, y, g).pointwise_backward(f, x, y, g, a, b);
}

static Tensor cpu_pointwise_backward(Pointwise f, const Tensor& x, const Tensor& y, const Tensor& g, double a,
                                     double b) {
  Tensor gx = Tensor::empty(x.shape(), x.dtype());  // every element written below
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T *px = x.data<T>(), *py = y.data<T>(), *pg = g.data<T>();
    T* po = gx.data<T>();
    if (f == Pointwise::Clip) {  // as the forward: pw_derivative's expression in a loop that vectorises
      const T lo = T(a), hi = T(b);
      parallel_for(x.numel(), kGrain, [px, pg, po, lo, hi](int64_t s, int64_t e) {
        // GCC keeps `g · (x in (lo, hi) ? 1 : 0)` a branch per element, so in explicit vectors: both products
        // (g · 1 and g · 0) and a select, the same values element by element.
        typedef T V __attribute__((vector_size(32)));
        constexpr int64_t VL = 32 / sizeof(T);
        const V l = V{} + lo, h = V{} + hi;
        int64_t i = s;
        for (; i + VL <= e; i += VL) {
          V xv, gv;
          std::memcpy(&xv, px + i, sizeof(V));
          std::memcpy(&gv, pg + i, sizeof(V));
          const V r = (xv > l) & (xv < h) ? gv * T(1) : gv * T(0);
          std::memcpy(po + i, &r, sizeof(V));
        }
        for (; i < e; ++i) po[i] = pg[i] * (px[i] > lo && px[i] < hi ? T(1) : T(0));
      });
      return 0;
    }
    parallel_for(x.numel(), kGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) po[i] = pg[i] * pw_derivative<T>(f, px[i], py[i], a, b);
    });
    return 0;
  });
  return gx;
}

// This file's entries of the CPU table (engine/cpu/backend_cpu.cpp).
void add_cpu_pointwise(Backend& b) {
  b.pointwise = cpu_pointwise;
  b.pointwise_backward = cpu_pointwise_backward;
}

}  // namespace xdnn::ops
