// Kernel bodies of layer normalisation (Ba et al. 2016, no affine part) and row centring
// (kernels/layer_norm.cu). x is viewed as rows of d elements. Row statistics: one thread per row, a
// serial sum in the order and precision (T) of engine/cpu/sequence.cpp; outputs: one thread per element.
#pragma once
#include "kernels/common_body.h"

namespace xdnn::cuda {

// mean[r], rstd[r] = 1/sqrt(var + eps) (biased variance) of row r.
template <class T>
struct LnRowStatsBody {
  const T* x;
  T *mean, *rstd;
  int64_t d;
  double eps;
  XDNN_HOST_DEVICE void operator()(int64_t r) const {
    const T* xr = x + r * d;
    T m = 0, var = 0;
    for (int64_t j = 0; j < d; ++j) m += xr[j];
    m /= static_cast<T>(d);
    for (int64_t j = 0; j < d; ++j) var += (xr[j] - m) * (xr[j] - m);
    var /= static_cast<T>(d);
    mean[r] = m;
    rstd[r] = T(1) / ksqrt(var + static_cast<T>(eps));
  }
};

// x̂ = (x − mean[r]) · rstd[r].
template <class T>
struct LnXhatBody {
  const T *x, *mean, *rstd;
  T* xhat;
  int64_t d;
  XDNN_HOST_DEVICE void operator()(int64_t idx) const { xhat[idx] = (x[idx] - mean[idx / d]) * rstd[idx / d]; }
};

// Backward row stage: mg[r] = mean(dx̂), mgh[r] = mean(dx̂ ⊙ x̂).
template <class T>
struct LnBackwardRowBody {
  const T *g, *xhat;
  T *mg, *mgh;
  int64_t d;
  XDNN_HOST_DEVICE void operator()(int64_t r) const {
    T a = 0, b = 0;
    for (int64_t j = 0; j < d; ++j) {
      a += g[r * d + j];
      b += g[r * d + j] * xhat[r * d + j];
    }
    mg[r] = a / static_cast<T>(d);
    mgh[r] = b / static_cast<T>(d);
  }
};

// dx = rstd ⊙ (dx̂ − mean(dx̂) − x̂ ⊙ mean(dx̂ ⊙ x̂)).
template <class T>
struct LnBackwardBody {
  const T *g, *xhat, *rstd, *mg, *mgh;
  T* dx;
  int64_t d;
  XDNN_HOST_DEVICE void operator()(int64_t idx) const {
    const int64_t r = idx / d;
    dx[idx] = rstd[r] * (g[idx] - mg[r] - xhat[idx] * mgh[r]);
  }
};

// Row mean of the last axis (centring, stage 1).
template <class T>
struct RowMeanBody {
  const T* x;
  T* mean;
  int64_t d;
  XDNN_HOST_DEVICE void operator()(int64_t r) const {
    T m = 0;
    for (int64_t j = 0; j < d; ++j) m += x[r * d + j];
    mean[r] = m / static_cast<T>(d);
  }
};

// y = x − mean[row] (centring, stage 2).
template <class T>
struct CenterBody {
  const T *x, *mean;
  T* y;
  int64_t d;
  XDNN_HOST_DEVICE void operator()(int64_t idx) const { y[idx] = x[idx] - mean[idx / d]; }
};

}  // namespace xdnn::cuda
