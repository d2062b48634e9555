// Kernel bodies of the activations (kernels/activations.cu): leaky ReLU and its backward (with the
// guided-backprop variant), the sigmoid / tanh derivatives from their outputs, GELU and erf with their
// derivatives. Formulas of engine/cpu/activations.cpp and engine/cpu/sequence.cpp.
#pragma once
#include "kernels/common_body.h"

namespace xdnn::cuda {

template <class T>
struct LeakyReluBody {
  const T* x;
  T* y;
  T slope;
  XDNN_HOST_DEVICE void operator()(int64_t i) const { y[i] = x[i] > T(0) ? x[i] : slope * x[i]; }
};

// g ⊙ (x > 0 ? 1 : slope); positive_grad_only drops negative gradients first (guided backprop,
// Springenberg et al. 2015, eq. 3 — the forward mask of the ReLU and the sign mask of the gradient).
template <class T>
struct LeakyReluBackwardBody {
  const T *x, *g;
  T* gx;
  T slope;
  bool positive_grad_only;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    if (positive_grad_only && !(g[i] > T(0)))
      gx[i] = T(0);
    else
      gx[i] = x[i] > T(0) ? g[i] : slope * g[i];
  }
};

// tanh_output false: g ⊙ y ⊙ (1 − y) (σ' from y = σ(x)); true: g ⊙ (1 − y²) (tanh' from y = tanh(x)).
template <class T>
struct SigmoidTanhBackwardBody {
  const T *y, *g;
  T* gx;
  bool tanh_output;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    gx[i] = tanh_output ? g[i] * (T(1) - y[i] * y[i]) : g[i] * y[i] * (T(1) - y[i]);
  }
};

// GELU / erf family (Hendrycks & Gimpel 2016), evaluated in double whatever T, as the CPU ops do.
enum class GeluFn : int { Gelu, GeluTanh, GeluDerivative, GeluTanhDerivative, Erf, ErfDerivative };

XDNN_HOST_DEVICE inline double gelu_family(GeluFn f, double v) {
  const double kSqrt2 = 1.4142135623730951, kTwoOverSqrtPi = 1.1283791670955126;
  const double kSqrt2OverPi = 0.7978845608028654, kGeluC = 0.044715;
  switch (f) {
    case GeluFn::Gelu:
      return 0.5 * v * (1.0 + kerf(v / kSqrt2));
    case GeluFn::GeluTanh:
      return 0.5 * v * (1.0 + ktanh(kSqrt2OverPi * (v + kGeluC * v * v * v)));
    case GeluFn::GeluDerivative:
      return 0.5 * (1.0 + kerf(v / kSqrt2)) + v * kexp(-0.5 * v * v) * (kTwoOverSqrtPi / (2.0 * kSqrt2));
    case GeluFn::GeluTanhDerivative: {
      const double u = kSqrt2OverPi * (v + kGeluC * v * v * v), t = ktanh(u);
      return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * kSqrt2OverPi * (1.0 + 3.0 * kGeluC * v * v);
    }
    case GeluFn::Erf:
      return kerf(v);
    case GeluFn::ErfDerivative:
      return kTwoOverSqrtPi * kexp(-v * v);
  }
  return 0;
}

template <class T>
struct GeluFamilyBody {
  const T* x;
  T* y;
  GeluFn f;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    y[i] = static_cast<T>(gelu_family(f, static_cast<double>(x[i])));
  }
};

}  // namespace xdnn::cuda
