// Kernel bodies of kernels/fill.cu (CPU twins: engine/cpu/fill.cpp): length and attention masks,
// sinusoidal positions, one-hot seeds, arg-max, integration path points and the quadrature sum, the
// max-pool gather. One thread per output element (per row for arg-max); no atomics, so the same bits on
// every run; tests/test_ops_fill.cpp runs each body on the host against the CPU op.
#pragma once
#include "kernels/host_device.h"

namespace xdnn::cuda {

XDNN_HOST_DEVICE inline double ksin(double x) { return sin(x); }
XDNN_HOST_DEVICE inline double kcos(double x) { return cos(x); }

// m (N, T) or (T, N): 1 (or 1/len) on steps t < len[n], else 0. One element per i.
template <class T>
struct LengthMaskBody {
  const int64_t* len;
  T* m;
  int64_t N, steps;
  bool time_major, mean;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    const int64_t n = time_major ? i % N : i / steps, t = time_major ? i / N : i % steps;
    const T v = mean ? static_cast<T>(1.0 / static_cast<double>(len[n])) : T(1);
    m[i] = t < len[n] ? v : T(0);
  }
};

// m (N, 1, T, T): −∞ where j > i (causal) or key_padding[n, j] != 0, else 0. kpm may be null.
template <class T, class K>
struct AttentionMaskBody {
  const K* kpm;
  T* m;
  int64_t steps;
  bool causal;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    const int64_t j = i % steps, q = (i / steps) % steps, n = i / (steps * steps);
    const bool hidden = (causal && j > q) || (kpm && kpm[n * steps + j] != K(0));
    m[i] = hidden ? -static_cast<T>(INFINITY) : T(0);
  }
};

// P (T, d): sin(t ω_j) for even j, cos(t ω_j) for odd j, ω_j = 10000^(−(j − j mod 2)/d), in double.
template <class T>
struct SinusoidBody {
  T* p;
  int64_t d;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    const int64_t t = i / d, j = i % d;
    const double freq = pow(10000.0, -static_cast<double>(j - j % 2) / static_cast<double>(d));
    const double a = static_cast<double>(t) * freq;
    p[i] = static_cast<T>(j % 2 == 0 ? ksin(a) : kcos(a));
  }
};

// y (R, K) = x at (r, targets[r]), else 0; with x null, 1 there (one-hot).
template <class T>
struct KeepTargetsBody {
  const T* x;
  const int64_t* targets;
  T* y;
  int64_t K;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    const bool hit = i % K == targets[i / K];
    y[i] = hit ? (x ? x[i] : T(1)) : T(0);
  }
};

// y[r] = the first k with x[r, k] the row's largest (NaN never the largest). One row per i.
template <class T>
struct ArgmaxRowBody {
  const T* x;
  int64_t* y;
  int64_t K;
  XDNN_HOST_DEVICE void operator()(int64_t r) const {
    const T* row = x + r * K;
    int64_t best = 0;
    for (int64_t k = 1; k < K; ++k)
      if (row[k] > row[best] || (row[best] != row[best] && row[k] == row[k])) best = k;
    y[r] = best;
  }
};

// pts[j·m + i] = base[i] + α_j delta[i], α_j (k values, already of type T) in device memory.
template <class T>
struct InterpolateRowsBody {
  const T* base;
  const T* delta;
  const T* alphas;
  T* pts;
  int64_t m;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    const int64_t j = i / m, e = i % m;
    pts[i] = base[e] + alphas[j] * delta[e];
  }
};

// sum[i] += Σ_j w_j g[j·m + i], j in order. One element per i.
template <class T>
struct WeightedRowsBody {
  const T* g;
  const double* weights;
  double* sum;
  int64_t m, k;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    double s = sum[i];
    for (int64_t j = 0; j < k; ++j) s += weights[j] * static_cast<double>(g[j * m + i]);
    sum[i] = s;
  }
};

// y (planes·out_plane) = x at the plane's arg-max index, 0 where it is negative.
template <class T>
struct MaxpoolGatherBody {
  const T* x;
  const int64_t* argmax;
  T* y;
  int64_t in_plane, out_plane;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    const int64_t a = argmax[i];
    y[i] = a >= 0 ? x[(i / out_plane) * in_plane + a] : T(0);
  }
};

}  // namespace xdnn::cuda
