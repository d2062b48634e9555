// Kernel bodies of kernels/influence.cu (CPU twins: engine/cpu/influence.cpp, contract: engine/ops_influence.h):
// the element-wise fold of a factored Gram block into S, one thread per element of the block, and the factor
// norms, one thread per row. Products the CPU rounds on their own are written fold_mul (never contracted into
// an FMA by nvcc), its fused multiply-adds fold_fma, so the device computes each element as the CPU does.
#pragma once
#include <cstdint>

#include "kernels/common_body.h"

namespace xdnn::cuda {

// On the host (the bodies' tests) the product goes through an empty asm statement the compiler cannot see
// into, so it is not contracted with the addition that reads it either.
XDNN_HOST_DEVICE inline float fold_mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  float p = a * b;
#if defined(__x86_64__)
  asm("" : "+x"(p));
#endif
  return p;
#endif
}
XDNN_HOST_DEVICE inline double fold_mul(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  double p = a * b;
#if defined(__x86_64__)
  asm("" : "+x"(p));
#endif
  return p;
#endif
}
XDNN_HOST_DEVICE inline float fold_fma(float a, float b, float c) { return fmaf(a, b, c); }
XDNN_HOST_DEVICE inline double fold_fma(double a, double b, double c) { return fma(a, b, c); }

// Element k = j · ni + i of the block: d[k] = δ_j · δ'_i, a[k] = a_j · a'_i (the block's two GEMMs, (nj, ni)
// row-major) folded into S[j, col0 + i] (S row-major with `cols` columns). Norms (Grad-Cos): test_norm (nj)
// and train_norm (ni), or both null.
template <class T>
struct FactoredFoldBody {
  T* S;
  int64_t cols, col0, ni;
  const T* d;
  const T* a;
  const T* test_norm;
  const T* train_norm;
  T one, w;
  bool add;
  XDNN_HOST_DEVICE void operator()(int64_t k) const {
    const int64_t j = k / ni, i = k % ni;
    T& s = S[j * cols + col0 + i];
    const T shifted = a[k] + one;
    if (test_norm) {
      const T den = fold_mul(test_norm[j], train_norm[i]);
      const T v = den > 0 ? fold_mul(d[k], shifted) / den : T(0);
      s = add ? fold_fma(w, v, s) : fold_mul(w, v);
    } else {
      const T wd = fold_mul(w, d[k]);
      s = add ? fold_fma(wd, shifted, s) : fold_mul(wd, shifted);
    }
  }
};

// Row r: dd = Σ_k δ_rk², aa = Σ_k a_rk² (each square rounded, summed in k order from 0), out[r] = dd · (aa + one) or
// its root.
template <class T>
struct FactorNormsBody {
  const T* delta;
  const T* act;
  T* out;
  int64_t K, in;
  T one;
  bool squared;
  XDNN_HOST_DEVICE void operator()(int64_t r) const {
    T dd = 0, aa = 0;
    for (int64_t k = 0; k < K; ++k) dd += fold_mul(delta[r * K + k], delta[r * K + k]);
    for (int64_t k = 0; k < in; ++k) aa += fold_mul(act[r * in + k], act[r * in + k]);
    const T p = fold_mul(dd, aa + one);
    out[r] = squared ? p : ksqrt(p);
  }
};

// Element k = r · n + i of x (rows, n) into y[r, col0 + i] (y row-major with `cols` columns): a · x, or
// fma(a, x, y) when accumulating.
template <class T>
struct AxpyColumnsBody {
  T* y;
  const T* x;
  int64_t cols, col0, n;
  T a;
  bool accumulate;
  XDNN_HOST_DEVICE void operator()(int64_t k) const {
    T& out = y[(k / n) * cols + col0 + k % n];
    out = accumulate ? fold_fma(a, x[k], out) : fold_mul(a, x[k]);
  }
};

}  // namespace xdnn::cuda
