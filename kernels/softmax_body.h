// Kernel bodies of kernels/softmax.cu: one thread per line. CPU twins: engine/cpu/softmax.cpp (softmax,
// log-softmax over any axis, their backward, cross-entropy; sums in double) and ops::softmax_last_axis
// (+ backward) in engine/cpu/sequence.cpp (sums in T). Same formulas, same order of operations.
//
// A tensor is viewed as (outer, D, inner) with D the softmax axis; line l = o·inner + in covers the D
// elements base + d·inner, base = o·D·inner + in.
#pragma once
#include "kernels/host_device.h"

namespace xdnn::cuda {

XDNN_HOST_DEVICE inline int64_t line_base(int64_t line, int64_t D, int64_t inner) {
  return (line / inner) * D * inner + line % inner;
}

// log Σ_d e^(x_d − m) over one line, m = the line maximum (returned through m). Returns 0 when m is ±∞
// (the caller's arithmetic then produces the CPU's NaN/∞).
template <class T>
XDNN_HOST_DEVICE double line_logsumexp(const T* x, int64_t D, int64_t stride, double& m) {
  m = -HUGE_VAL;
  for (int64_t d = 0; d < D; ++d) m = kmax(m, static_cast<double>(x[d * stride]));
  if (kisinf(m)) return 0.0;
  double s = 0;
  for (int64_t d = 0; d < D; ++d) s += kexp(static_cast<double>(x[d * stride]) - m);
  return klog(s);
}

// softmax_i = e^(x_i − m − lse), log_softmax_i = x_i − m − lse.
template <class T>
struct SoftmaxLineBody {
  const T* x;
  T* y;
  int64_t D, inner;
  bool log;
  XDNN_HOST_DEVICE void operator()(int64_t line) const {
    const int64_t base = line_base(line, D, inner);
    double m;
    const double lse = line_logsumexp(x + base, D, inner, m);
    for (int64_t d = 0; d < D; ++d) {
      const double z = static_cast<double>(x[base + d * inner]) - m - lse;
      y[base + d * inner] = static_cast<T>(log ? z : kexp(z));
    }
  }
};

// softmax: dx = y ⊙ (dy − Σ y ⊙ dy); log-softmax: dx = dy − e^y Σ dy.
template <class T>
struct SoftmaxBackwardLineBody {
  const T* y;
  const T* dy;
  T* dx;
  int64_t D, inner;
  bool log;
  XDNN_HOST_DEVICE void operator()(int64_t line) const {
    const int64_t base = line_base(line, D, inner);
    double s = 0;
    for (int64_t d = 0; d < D; ++d) {
      const int64_t i = base + d * inner;
      s += log ? static_cast<double>(dy[i]) : static_cast<double>(y[i]) * dy[i];
    }
    for (int64_t d = 0; d < D; ++d) {
      const int64_t i = base + d * inner;
      dx[i] = log ? static_cast<T>(dy[i] - kexp(static_cast<double>(y[i])) * s) : static_cast<T>(y[i] * (dy[i] - s));
    }
  }
};

// Row n of logits (N, C): loss[n] = logsumexp(z_n) − z_n[label_n] (labels validated on the host).
template <class T>
struct CrossEntropyBody {
  const T* z;
  const int64_t* labels;
  T* loss;
  int64_t C;
  XDNN_HOST_DEVICE void operator()(int64_t n) const {
    double m;
    const double lse = line_logsumexp(z + n * C, C, 1, m);
    loss[n] = static_cast<T>(m + lse - static_cast<double>(z[n * C + labels[n]]));
  }
};

// g_n = scale · (softmax(z_n) − onehot(label_n)).
template <class T>
struct CrossEntropyBackwardBody {
  const T* z;
  const int64_t* labels;
  T* g;
  int64_t C;
  double scale;
  XDNN_HOST_DEVICE void operator()(int64_t n) const {
    double m;
    const double lse = line_logsumexp(z + n * C, C, 1, m);
    for (int64_t c = 0; c < C; ++c) {
      const double p = kexp(static_cast<double>(z[n * C + c]) - m - lse);
      g[n * C + c] = static_cast<T>(scale * (p - (c == labels[n] ? 1.0 : 0.0)));
    }
  }
};

// Softmax over the last axis in T (as ops::softmax_last_axis): row r of length D.
template <class T>
struct SoftmaxRowBody {
  const T* x;
  T* y;
  int64_t D;
  XDNN_HOST_DEVICE void operator()(int64_t r) const {
    const T* xr = x + r * D;
    T* yr = y + r * D;
    T m = xr[0];
    for (int64_t j = 1; j < D; ++j) m = kmax(m, xr[j]);
    T s = 0;
    for (int64_t j = 0; j < D; ++j) s += (yr[j] = kexp(xr[j] - m));
    for (int64_t j = 0; j < D; ++j) yr[j] /= s;
  }
};

template <class T>
struct SoftmaxRowBackwardBody {
  const T* y;
  const T* dy;
  T* dx;
  int64_t D;
  XDNN_HOST_DEVICE void operator()(int64_t r) const {
    T s = 0;
    for (int64_t j = 0; j < D; ++j) s += y[r * D + j] * dy[r * D + j];
    for (int64_t j = 0; j < D; ++j) dx[r * D + j] = y[r * D + j] * (dy[r * D + j] - s);
  }
};

}  // namespace xdnn::cuda
