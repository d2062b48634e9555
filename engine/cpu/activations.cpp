// Element-wise activation ops that need more than one operand or a parameter (leaky ReLU, the
// derivatives of sigmoid and tanh from their outputs). Every element is independent.
#include <cstdint>
#include <string>
#include <type_traits>

#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/parallel.h"

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
    // By value: through references, a store to py[i] might change the pointers, which GCC then reloads per
    // element and the loop stays scalar.
    parallel_for(a.numel(), kGrain, [pa, pb, py, f](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) py[i] = f(pa[i], pb[i]);
    });
    return 0;
  });
  return y;
}

}  // namespace

Tensor leaky_relu(const Tensor& x, double slope) {
  expect_float(x, "leaky_relu");
  return backend_of("leaky_relu", x).leaky_relu(x, slope);
}

static Tensor cpu_leaky_relu(const Tensor& x, double slope) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());  // every element written below
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const T a = static_cast<T>(slope);
    parallel_for(x.numel(), kGrain, [px, py, a](int64_t s, int64_t e) {  // by value, as map2
      for (int64_t i = s; i < e; ++i) py[i] = px[i] > T(0) ? px[i] : a * px[i];
    });
    return 0;
  });
  return y;
}

Tensor leaky_relu_backward(const Tensor& x, const Tensor& g, double slope, bool positive_grad_only) {
  return backend_of("leaky_relu_backward", x, g).leaky_relu_backward(x, g, slope, positive_grad_only);
}

static Tensor cpu_leaky_relu_backward(const Tensor& x, const Tensor& g, double slope, bool positive_grad_only) {
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

namespace {

// Bits [x > 0] of VL lanes, lane l at bit l (one movemask instruction where the ISA has it).
template <class V>
inline uint64_t positive_bits(V x) {  // by value: clang drops the lane type's aligned(sizeof(T)) on a reference
  constexpr int VL = sizeof(V) / sizeof(x[0]);
  const auto m = x > V{};
#if defined(__AVX__)
  typedef float F8 __attribute__((vector_size(32)));
  typedef double D4 __attribute__((vector_size(32)));
  if constexpr (sizeof(V) == 32 && VL == 8)
    return static_cast<uint32_t>(__builtin_ia32_movmskps256(__builtin_bit_cast(F8, m)));
  if constexpr (sizeof(V) == 32 && VL == 4)
    return static_cast<uint32_t>(__builtin_ia32_movmskpd256(__builtin_bit_cast(D4, m)));
#endif
  uint64_t bits = 0;
  for (int l = 0; l < VL; ++l) bits |= static_cast<uint64_t>(m[l] != 0) << l;
  return bits;
}

}  // namespace

// Words of 64 elements; each word is written by one thread (the split is over words).
Tensor relu_with_mask(const Tensor& x, Tensor& mask) {
  mask = Tensor();
  expect_float(x, "relu_with_mask");
  return backend_of("relu_with_mask", x).relu_with_mask(x, mask);
}

static Tensor cpu_relu_with_mask(const Tensor& x, Tensor& mask) {
  const int64_t n = x.numel(), words = (n + 63) / 64;
  Tensor y = Tensor::empty(x.shape(), x.dtype());  // every element and bit written below
  mask = Tensor::empty({words}, DType::I64);
  uint64_t* pm = reinterpret_cast<uint64_t*>(mask.data<int64_t>());
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    typedef T V __attribute__((vector_size(32), aligned(sizeof(T)), may_alias));
    constexpr int64_t VL = 32 / sizeof(T);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(words, kGrain / 64, [&](int64_t wb, int64_t we) {
      for (int64_t w = wb; w < we; ++w) {
        const int64_t i0 = w * 64;
        uint64_t bits = 0;
        if (i0 + 64 <= n) {
          for (int64_t k = 0; k < 64; k += VL) {
            const V v = *reinterpret_cast<const V*>(px + i0 + k);
            *reinterpret_cast<V*>(py + i0 + k) = v > V{} ? v : V{};
            bits |= positive_bits(v) << k;
          }
        } else {
          for (int64_t i = i0; i < n; ++i) {
            py[i] = px[i] > T(0) ? px[i] : T(0);
            bits |= static_cast<uint64_t>(px[i] > T(0)) << (i - i0);
          }
        }
        pm[w] = bits;
      }
    });
    return 0;
  });
  return y;
}

Tensor relu_backward_mask(const Tensor& mask, const Tensor& g, bool positive_grad_only) {
  expect_float(g, "relu_backward_mask");
  const int64_t n = g.numel(), words = (n + 63) / 64;
  if (!mask.defined() || mask.dtype() != DType::I64 || mask.numel() != words)
    throw Error("relu_backward_mask: mask " + (mask.defined() ? mask.describe() : std::string("undefined")) +
                " does not fit gradient " + g.describe() + " (expected int64 (" + std::to_string(words) + "))");
  const Backend& b = backend_of("relu_backward_mask", mask, g);
  return require_entry(b.relu_backward_mask, b, "relu_backward_mask")(mask, g, positive_grad_only);
}

static Tensor cpu_relu_backward_mask(const Tensor& mask, const Tensor& g, bool positive_grad_only) {
  const int64_t n = g.numel(), words = (n + 63) / 64;
  Tensor out = Tensor::empty(g.shape(), g.dtype());
  const uint64_t* pm = reinterpret_cast<const uint64_t*>(mask.data<int64_t>());
  dispatch_float(g.dtype(), [&](auto zero) {
    using T = decltype(zero);
    typedef T V __attribute__((vector_size(32), aligned(sizeof(T)), may_alias));
    typedef std::conditional_t<sizeof(T) == 4, int32_t, int64_t> E;
    typedef E M __attribute__((vector_size(32)));
    constexpr int64_t VL = 32 / sizeof(T);
    M lane_bit;
    for (int64_t l = 0; l < VL; ++l) lane_bit[l] = static_cast<E>(E(1) << l);
    const T* pg = g.data<T>();
    T* po = out.data<T>();
    // The arithmetic of leaky_relu_backward with slope 0: [x > 0] ? g : 0, and for guided backprop
    // g > 0 ? ([x > 0] ? g : 0·g) : 0.
    parallel_for(words, kGrain / 64, [&](int64_t wb, int64_t we) {
      for (int64_t w = wb; w < we; ++w) {
        const int64_t i0 = w * 64;
        const uint64_t bits = pm[w];
        if (i0 + 64 <= n) {
          for (int64_t k = 0; k < 64; k += VL) {
            const M on = (static_cast<E>((bits >> k) & ((uint64_t(1) << VL) - 1)) & lane_bit) != 0;
            const V gv = *reinterpret_cast<const V*>(pg + i0 + k);
            V r = on ? gv : V{};
            if (positive_grad_only) r = gv > V{} ? (on ? gv : T(0) * gv) : V{};
            *reinterpret_cast<V*>(po + i0 + k) = r;
          }
        } else {
          for (int64_t i = i0; i < n; ++i) {
            const bool on = (bits >> (i - i0)) & 1;
            const T gv = pg[i];
            po[i] = positive_grad_only ? (gv > T(0) ? (on ? gv : T(0) * gv) : T(0)) : (on ? gv : T(0));
          }
        }
      }
    });
    return 0;
  });
  return out;
}

Tensor sigmoid_backward(const Tensor& y, const Tensor& g) {
  return backend_of("sigmoid_backward", y, g).sigmoid_backward(y, g);
}

static Tensor cpu_sigmoid_backward(const Tensor& y, const Tensor& g) {
  return dispatch_float(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    return map2(y, g, "sigmoid_backward", [](T yv, T gv) { return gv * yv * (T(1) - yv); });
  });
}

Tensor tanh_backward(const Tensor& y, const Tensor& g) { return backend_of("tanh_backward", y, g).tanh_backward(y, g); }

static Tensor cpu_tanh_backward(const Tensor& y, const Tensor& g) {
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
    for (int64_t i = 0, i_end = m.numel(); i < i_end; ++i) pm[i] = rng.uniform() >= p ? keep_scale : T(0);
    return 0;
  });
  return m;
}

// This file's entries of the CPU table (engine/cpu/backend_cpu.cpp).
void add_cpu_activations(Backend& b) {
  b.leaky_relu = cpu_leaky_relu;
  b.leaky_relu_backward = cpu_leaky_relu_backward;
  b.relu_with_mask = cpu_relu_with_mask;
  b.relu_backward_mask = cpu_relu_backward_mask;
  b.sigmoid_backward = cpu_sigmoid_backward;
  b.tanh_backward = cpu_tanh_backward;
}

}  // namespace xdnn::ops
