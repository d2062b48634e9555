// Kernel bodies of batch normalisation (kernels/batchnorm.cu), Ioffe & Szegedy 2015, Algorithm 1 and
// its backward pass. x: (N, C, S) (trailing axes flattened to S); per-channel tensors (C). Reductions
// are staged so every sum has one fixed order and no atomics:
//   stage 1, one thread per (n, c): a serial sum over s;  stage 2, one thread per c: a serial sum over n.
// The backward pass adds in exactly engine/cpu/batchnorm.cpp's order (in double); the statistics add
// the same values in a different grouping (per-sample partials), within rounding of the CPU's.
#pragma once
#include "kernels/common_body.h"

namespace xdnn::cuda {

// Stage 1 of the statistics: part[nc] = Σ_s x[n, c, s] (mean == nullptr) or Σ_s (x − mean[c])²;
// idx = n·C + c.
template <class T>
struct BnRowSumBody {
  const T* x;
  const double* mean;
  double* part;
  int64_t C, S;
  XDNN_HOST_DEVICE void operator()(int64_t nc) const {
    const T* r = x + nc * S;
    double s = 0;
    if (mean == nullptr) {
      for (int64_t i = 0; i < S; ++i) s += r[i];
    } else {
      const double mu = mean[nc % C];
      for (int64_t i = 0; i < S; ++i) {
        const double dv = r[i] - mu;
        s += dv * dv;
      }
    }
    part[nc] = s;
  }
};

// Stage 2: out[c] = Σ_n part[n, c] / M (in n order), and the T copy.
template <class T>
struct BnChannelMeanBody {
  const double* part;
  double* out;
  T* out_t;
  int64_t N, C;
  double M;
  XDNN_HOST_DEVICE void operator()(int64_t c) const {
    double s = 0;
    for (int64_t n = 0; n < N; ++n) s += part[n * C + c];
    out[c] = s / M;
    out_t[c] = static_cast<T>(s / M);
  }
};

// y = k x + (β − k μ) with k = γ / sqrt(var + eps); idx over (N, C, S).
template <class T>
struct BnForwardBody {
  const T *x, *mean, *var, *gamma, *beta;
  T* y;
  double eps;
  int64_t C, S;
  XDNN_HOST_DEVICE void operator()(int64_t idx) const {
    const int64_t c = (idx / S) % C;
    const T k = static_cast<T>(static_cast<double>(gamma[c]) / ksqrt(static_cast<double>(var[c]) + eps));
    const T shift = beta[c] - k * mean[c];
    y[idx] = k * x[idx] + shift;
  }
};

// Backward stage 1 for nc = n·C + c: sg = Σ_s gy, sgx = Σ_s gy·x̂ (double, s order). per_example: also
// the (N, C) dβ, dγ.
template <class T>
struct BnBackwardRowBody {
  const T *gy, *x, *mean, *var;
  double eps;
  int64_t C, S;
  double *sg, *sgx;
  T *dbeta_n, *dgamma_n;  // nullptr unless per_example
  XDNN_HOST_DEVICE void operator()(int64_t nc) const {
    const int64_t c = nc % C;
    const double mu = mean[c], rstd = 1.0 / ksqrt(static_cast<double>(var[c]) + eps);
    double a = 0, b = 0;
    for (int64_t i = 0; i < S; ++i) {
      const int64_t k = nc * S + i;
      a += gy[k];
      b += gy[k] * (x[k] - mu) * rstd;
    }
    sg[nc] = a;
    sgx[nc] = b;
    if (dbeta_n != nullptr) {
      dbeta_n[nc] = static_cast<T>(a);
      dgamma_n[nc] = static_cast<T>(b);
    }
  }
};

// Backward stage 2 for channel c: totals over n in n order (kept in double for dx); dβ, dγ unless
// per_example (nullptr).
template <class T>
struct BnBackwardChannelBody {
  const double *sg, *sgx;
  double *tot_g, *tot_gx;
  T *dbeta, *dgamma;
  int64_t N, C;
  XDNN_HOST_DEVICE void operator()(int64_t c) const {
    double a = 0, b = 0;
    for (int64_t n = 0; n < N; ++n) {
      a += sg[n * C + c];
      b += sgx[n * C + c];
    }
    tot_g[c] = a;
    tot_gx[c] = b;
    if (dbeta != nullptr) {
      dbeta[c] = static_cast<T>(a);
      dgamma[c] = static_cast<T>(b);
    }
  }
};

// dx = γ·rstd·(gy − mean(gy) − x̂·mean(gy·x̂)) with batch statistics, else γ·rstd·gy; idx over (N, C, S).
template <class T>
struct BnBackwardDxBody {
  const T *gy, *x, *mean, *var, *gamma;
  const double *tot_g, *tot_gx;
  T* dx;
  double eps;
  bool batch_stats;
  int64_t N, C, S;
  XDNN_HOST_DEVICE void operator()(int64_t idx) const {
    const int64_t c = (idx / S) % C;
    const double M = static_cast<double>(N * S);
    const double mu = mean[c], rstd = 1.0 / ksqrt(static_cast<double>(var[c]) + eps), g = gamma[c];
    const double a = batch_stats ? tot_g[c] / M : 0.0, bq = batch_stats ? tot_gx[c] / M : 0.0;
    const double xhat = (x[idx] - mu) * rstd;
    dx[idx] = static_cast<T>(g * rstd * (gy[idx] - a - xhat * bq));
  }
};

}  // namespace xdnn::cuda
