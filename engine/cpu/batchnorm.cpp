// Batch normalisation on the CPU (Ioffe & Szegedy 2015, Algorithm 1 and its backward pass).
// x is viewed as (N, C, S); per channel c the statistics run over the M = N·S values x[n, c, s].
// Channels are independent and split over threads; within a channel sums run over n then s in
// increasing order, in double, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>

#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/parallel.h"

namespace xdnn::ops {
namespace {

struct View {
  int64_t N, C, S;
};

View view_of(const Tensor& x, const char* what) {
  expect_float(x, what);
  if (x.ndim() < 2) throw Error(std::string(what) + ": expected input (N, C, ...), got " + x.describe());
  return {x.dim(0), x.dim(1), x.numel() / std::max<int64_t>(1, x.dim(0) * x.dim(1))};
}

void expect_channels(const Tensor& t, int64_t C, const Tensor& x, const char* what) {
  if (!t.defined() || t.numel() != C || t.dtype() != x.dtype())
    throw Error(std::string(what) + ": expected a " + dtype_name(x.dtype()) + " per-channel tensor (" +
                std::to_string(C) + "), got " + (t.defined() ? t.describe() : std::string("an undefined tensor")));
}

}  // namespace

std::vector<Tensor> batchnorm_stats(const Tensor& x) { return backend_of("batchnorm_stats", x).batchnorm_stats(x); }

static std::vector<Tensor> cpu_batchnorm_stats(const Tensor& x) {
  const View v = view_of(x, "batchnorm_stats");
  Tensor mean({v.C}, x.dtype()), var({v.C}, x.dtype());
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* pm = mean.data<T>();
    T* pv = var.data<T>();
    const double M = static_cast<double>(v.N * v.S);
    parallel_for(v.C, grain_for_work(v.N * v.S), [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        double s = 0;
        for (int64_t n = 0; n < v.N; ++n)
          for (int64_t i = 0; i < v.S; ++i) s += px[(n * v.C + c) * v.S + i];
        const double mu = s / M;
        double q = 0;  // two-pass variance: no cancellation for large means
        for (int64_t n = 0; n < v.N; ++n)
          for (int64_t i = 0; i < v.S; ++i) {
            const double d = px[(n * v.C + c) * v.S + i] - mu;
            q += d * d;
          }
        pm[c] = static_cast<T>(mu);
        pv[c] = static_cast<T>(q / M);
      }
    });
    return 0;
  });
  return {mean, var};
}

Tensor batchnorm_forward(const Tensor& x, const Tensor& mean, const Tensor& var, const Tensor& gamma,
                         const Tensor& beta, double eps) {
  return backend_of("batchnorm_forward", x, mean, var, gamma, beta).batchnorm_forward(x, mean, var, gamma, beta, eps);
}

static Tensor cpu_batchnorm_forward(const Tensor& x, const Tensor& mean, const Tensor& var, const Tensor& gamma,
                                    const Tensor& beta, double eps) {
  const View v = view_of(x, "batchnorm_forward");
  expect_channels(mean, v.C, x, "batchnorm_forward mean");
  expect_channels(var, v.C, x, "batchnorm_forward var");
  expect_channels(gamma, v.C, x, "batchnorm_forward weight");
  expect_channels(beta, v.C, x, "batchnorm_forward bias");
  Tensor y(x.shape(), x.dtype());
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    const T *pm = mean.data<T>(), *pv = var.data<T>(), *pg = gamma.data<T>(), *pb = beta.data<T>();
    T* py = y.data<T>();
    parallel_for(v.N * v.C, std::max<int64_t>(4, grain_for_work(v.S)), [&](int64_t b, int64_t e) {
      for (int64_t nc = b; nc < e; ++nc) {
        const int64_t c = nc % v.C;
        // y = k x + (β − k μ) with k = γ / sqrt(var + eps), per channel
        const T k = static_cast<T>(static_cast<double>(pg[c]) / std::sqrt(static_cast<double>(pv[c]) + eps));
        const T shift = pb[c] - k * pm[c];
        const T* xr = px + nc * v.S;
        T* yr = py + nc * v.S;
        for (int64_t i = 0; i < v.S; ++i) yr[i] = k * xr[i] + shift;
      }
    });
    return 0;
  });
  return y;
}

std::vector<Tensor> batchnorm_backward(const Tensor& gy, const Tensor& x, const Tensor& mean, const Tensor& var,
                                       const Tensor& gamma, double eps, bool batch_stats, bool per_example) {
  return backend_of("batchnorm_backward", gy, x, mean, var, gamma)
      .batchnorm_backward(gy, x, mean, var, gamma, eps, batch_stats, per_example);
}

static std::vector<Tensor> cpu_batchnorm_backward(const Tensor& gy, const Tensor& x, const Tensor& mean,
                                                  const Tensor& var, const Tensor& gamma, double eps, bool batch_stats,
                                                  bool per_example) {
  const View v = view_of(x, "batchnorm_backward");
  expect_same_dtype(gy, x, "batchnorm_backward");
  expect_shape(gy, x.shape(), "batchnorm_backward gradient");
  expect_channels(mean, v.C, x, "batchnorm_backward mean");
  expect_channels(var, v.C, x, "batchnorm_backward var");
  expect_channels(gamma, v.C, x, "batchnorm_backward weight");
  Tensor dx(x.shape(), x.dtype());
  Tensor dgamma = per_example ? Tensor({v.N, v.C}, x.dtype()) : Tensor({v.C}, x.dtype());
  Tensor dbeta = per_example ? Tensor({v.N, v.C}, x.dtype()) : Tensor({v.C}, x.dtype());
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T *px = x.data<T>(), *pgy = gy.data<T>();
    const T *pm = mean.data<T>(), *pv = var.data<T>(), *pg = gamma.data<T>();
    T *pdx = dx.data<T>(), *pdg = dgamma.data<T>(), *pdb = dbeta.data<T>();
    const double M = static_cast<double>(v.N * v.S);
    parallel_for(v.C, grain_for_work(v.N * v.S), [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        const double mu = pm[c], rstd = 1.0 / std::sqrt(static_cast<double>(pv[c]) + eps), g = pg[c];
        double sum_gy = 0, sum_gy_xhat = 0;  // dβ and dγ of the whole batch
        for (int64_t n = 0; n < v.N; ++n) {
          double sg = 0, sgx = 0;
          for (int64_t i = 0; i < v.S; ++i) {
            const int64_t k = (n * v.C + c) * v.S + i;
            sg += pgy[k];
            sgx += pgy[k] * (px[k] - mu) * rstd;
          }
          if (per_example) {
            pdb[n * v.C + c] = static_cast<T>(sg);
            pdg[n * v.C + c] = static_cast<T>(sgx);
          }
          sum_gy += sg;
          sum_gy_xhat += sgx;
        }
        if (!per_example) {
          pdb[c] = static_cast<T>(sum_gy);
          pdg[c] = static_cast<T>(sum_gy_xhat);
        }
        // Training: dx = γ·rstd·(gy − mean(gy) − x̂·mean(gy·x̂)); evaluation: dx = γ·rstd·gy.
        const double a = batch_stats ? sum_gy / M : 0.0, bq = batch_stats ? sum_gy_xhat / M : 0.0;
        for (int64_t n = 0; n < v.N; ++n)
          for (int64_t i = 0; i < v.S; ++i) {
            const int64_t k = (n * v.C + c) * v.S + i;
            const double xhat = (px[k] - mu) * rstd;
            pdx[k] = static_cast<T>(g * rstd * (pgy[k] - a - xhat * bq));
          }
      }
    });
    return 0;
  });
  return {dx, dgamma, dbeta};
}

// This file's entries of the CPU table (engine/cpu/backend_cpu.cpp).
void add_cpu_batchnorm(Backend& b) {
  b.batchnorm_stats = cpu_batchnorm_stats;
  b.batchnorm_forward = cpu_batchnorm_forward;
  b.batchnorm_backward = cpu_batchnorm_backward;
}

}  // namespace xdnn::ops
