// Softmax, log-softmax and cross-entropy on the CPU.
//
// x is viewed as (outer, D, inner) with D the softmax axis; every (outer, inner) line is independent
// (split over threads by outer index) and its sums run in increasing index order, in double.
// Numerical stability: the line maximum m is subtracted before exponentiating:
//   softmax_i = e^(x_i − m) / Σ_j e^(x_j − m),  log_softmax_i = x_i − m − log Σ_j e^(x_j − m).
#include <cmath>
#include <limits>

#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/shape_util.h"

namespace xdnn::ops {
namespace {

using Lines = AxisLines;

// Outer indices per task: ≈ 32 k elements (exp and log per element), so small softmaxes (the logits of
// a batch) stay on one thread instead of paying a fork-join.
int64_t lines_grain(const Lines& l) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, l.D * l.inner)); }

// log Σ_j e^(x_j − m) for one line (stride `inner`), with m the line maximum (returned through m).
template <class T>
double line_logsumexp(const T* x, int64_t D, int64_t stride, double& m) {
  m = -std::numeric_limits<double>::infinity();
  for (int64_t d = 0; d < D; ++d) m = std::max(m, static_cast<double>(x[d * stride]));
  if (std::isinf(m)) return 0.0;  // all −∞ (or +∞ present): let the caller's arithmetic produce NaN/∞
  double s = 0;
  for (int64_t d = 0; d < D; ++d) s += std::exp(static_cast<double>(x[d * stride]) - m);
  return std::log(s);
}

Tensor softmax_impl(const Tensor& x, int axis, bool log) {
  expect_float(x, log ? "log_softmax" : "softmax");
  const Lines l = axis_lines(x.shape(), axis, log ? "log_softmax" : "softmax");
  Tensor y(x.shape(), x.dtype());
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(l.outer, lines_grain(l), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o)
        for (int64_t in = 0; in < l.inner; ++in) {
          const T* xl = px + o * l.D * l.inner + in;
          T* yl = py + o * l.D * l.inner + in;
          double m;
          const double lse = line_logsumexp(xl, l.D, l.inner, m);
          for (int64_t d = 0; d < l.D; ++d) {
            const double z = static_cast<double>(xl[d * l.inner]) - m - lse;
            yl[d * l.inner] = static_cast<T>(log ? z : std::exp(z));
          }
        }
    });
    return 0;
  });
  return y;
}

// softmax: dx = y ⊙ (dy − Σ_j y_j dy_j);  log-softmax: dx = dy − softmax ⊙ Σ_j dy_j (softmax = e^y).
Tensor softmax_backward_impl(const Tensor& y, const Tensor& dy, int axis, bool log) {
  const char* what = log ? "log_softmax_backward" : "softmax_backward";
  expect_float(y, what);
  expect_same_dtype(y, dy, what);
  expect_shape(dy, y.shape(), what);
  const Lines l = axis_lines(y.shape(), axis, what);
  Tensor dx(y.shape(), y.dtype());
  dispatch_float(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* py = y.data<T>();
    const T* pg = dy.data<T>();
    T* pd = dx.data<T>();
    parallel_for(l.outer, lines_grain(l), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o)
        for (int64_t in = 0; in < l.inner; ++in) {
          const int64_t base = o * l.D * l.inner + in;
          double s = 0;
          for (int64_t d = 0; d < l.D; ++d) {
            const int64_t i = base + d * l.inner;
            s += log ? static_cast<double>(pg[i]) : static_cast<double>(py[i]) * pg[i];
          }
          for (int64_t d = 0; d < l.D; ++d) {
            const int64_t i = base + d * l.inner;
            pd[i] = log ? static_cast<T>(pg[i] - std::exp(static_cast<double>(py[i])) * s)
                        : static_cast<T>(py[i] * (pg[i] - s));
          }
        }
    });
    return 0;
  });
  return dx;
}

void check_logits_labels(const Tensor& logits, const Tensor& labels) {
  expect_float(logits, "cross_entropy logits");
  if (logits.ndim() != 2) throw Error("cross_entropy: expected logits (N, C), got " + logits.describe());
  if (!labels.defined() || labels.dtype() != DType::I64 || labels.ndim() != 1 || labels.dim(0) != logits.dim(0))
    throw Error("cross_entropy: expected int64 labels (" + std::to_string(logits.dim(0)) + "), got " +
                (labels.defined() ? labels.describe() : std::string("an undefined tensor")));
}

// The labels' values, on the host: each backend checks them where they live.
void check_label_range(const Tensor& logits, const Tensor& labels) {
  const int64_t C = logits.dim(1);
  const int64_t* pl = labels.data<int64_t>();
  for (int64_t n = 0, n_end = labels.numel(); n < n_end; ++n)
    if (pl[n] < 0 || pl[n] >= C)
      throw Error("cross_entropy: label " + std::to_string(pl[n]) + " of sample " + std::to_string(n) +
                  " is outside the valid range [0, " + std::to_string(C - 1) + "]");
}

}  // namespace

Tensor softmax(const Tensor& x, int axis) { return backend_of("softmax", x).softmax(x, axis); }

static Tensor cpu_softmax(const Tensor& x, int axis) { return softmax_impl(x, axis, false); }
Tensor log_softmax(const Tensor& x, int axis) { return backend_of("log_softmax", x).log_softmax(x, axis); }

static Tensor cpu_log_softmax(const Tensor& x, int axis) { return softmax_impl(x, axis, true); }
Tensor softmax_backward(const Tensor& y, const Tensor& dy, int axis) {
  return backend_of("softmax_backward", y, dy).softmax_backward(y, dy, axis);
}

static Tensor cpu_softmax_backward(const Tensor& y, const Tensor& dy, int axis) {
  return softmax_backward_impl(y, dy, axis, false);
}
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy, int axis) {
  return backend_of("log_softmax_backward", y, dy).log_softmax_backward(y, dy, axis);
}

static Tensor cpu_log_softmax_backward(const Tensor& y, const Tensor& dy, int axis) {
  return softmax_backward_impl(y, dy, axis, true);
}

Tensor cross_entropy_per_example(const Tensor& logits, const Tensor& labels) {
  check_logits_labels(logits, labels);
  return backend_of("cross_entropy_per_example", logits, labels).cross_entropy_per_example(logits, labels);
}

static Tensor cpu_cross_entropy_per_example(const Tensor& logits, const Tensor& labels) {
  check_label_range(logits, labels);
  const int64_t N = logits.dim(0), C = logits.dim(1);
  Tensor loss({N}, logits.dtype());
  const int64_t* pl = labels.data<int64_t>();
  dispatch_float(logits.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pz = logits.data<T>();
    T* po = loss.data<T>();
    for (int64_t n = 0; n < N; ++n) {
      double m;
      const double lse = line_logsumexp(pz + n * C, C, 1, m);
      po[n] = static_cast<T>(m + lse - static_cast<double>(pz[n * C + pl[n]]));  // logsumexp(z) − z_y
    }
    return 0;
  });
  return loss;
}

Tensor cross_entropy_backward(const Tensor& logits, const Tensor& labels, double scale) {
  check_logits_labels(logits, labels);
  return backend_of("cross_entropy_backward", logits, labels).cross_entropy_backward(logits, labels, scale);
}

static Tensor cpu_cross_entropy_backward(const Tensor& logits, const Tensor& labels, double scale) {
  check_label_range(logits, labels);
  const int64_t N = logits.dim(0), C = logits.dim(1);
  Tensor g(logits.shape(), logits.dtype());
  const int64_t* pl = labels.data<int64_t>();
  dispatch_float(logits.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pz = logits.data<T>();
    T* pg = g.data<T>();
    for (int64_t n = 0; n < N; ++n) {
      double m;
      const double lse = line_logsumexp(pz + n * C, C, 1, m);
      for (int64_t c = 0; c < C; ++c) {
        const double p = std::exp(static_cast<double>(pz[n * C + c]) - m - lse);
        pg[n * C + c] = static_cast<T>(scale * (p - (c == pl[n] ? 1.0 : 0.0)));
      }
    }
    return 0;
  });
  return g;
}

// This file's entries of the CPU table (engine/cpu/backend_cpu.cpp).
void add_cpu_softmax(Backend& b) {
  b.softmax = cpu_softmax;
  b.log_softmax = cpu_log_softmax;
  b.softmax_backward = cpu_softmax_backward;
  b.log_softmax_backward = cpu_log_softmax_backward;
  b.cross_entropy_per_example = cpu_cross_entropy_per_example;
  b.cross_entropy_backward = cpu_cross_entropy_backward;
}

}  // namespace xdnn::ops
