// Element-wise CPU ops with NumPy broadcasting. Every element is computed independently, so the thread
// split cannot change a result.
#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/parallel.h"

namespace xdnn::ops {

void expect_float(const Tensor& t, const char* what) {
  if (!t.defined()) throw Error(std::string(what) + ": tensor is undefined");
  if (!t.is_float()) throw Error(std::string(what) + ": expected a float tensor, got " + t.describe());
}

void expect_same_dtype(const Tensor& a, const Tensor& b, const char* what) {
  if (a.dtype() != b.dtype())
    throw Error(std::string(what) + ": mixed dtypes " + a.describe() + " and " + b.describe());
}

void expect_shape(const Tensor& t, const Shape& s, const char* what) {
  if (t.shape() != s)
    throw Error(std::string(what) + ": expected shape " + shape_str(s) + ", got " + shape_str(t.shape()));
}

namespace {

template <class T>
T apply_unary(Unary op, T x) {
  switch (op) {
    case Unary::Relu:
      return x > T(0) ? x : T(0);
    case Unary::Sigmoid:
      return T(1) / (T(1) + std::exp(-x));
    case Unary::Tanh:
      return std::tanh(x);
    case Unary::Exp:
      return std::exp(x);
    case Unary::Log:
      return std::log(x);
    case Unary::Sqrt:
      return std::sqrt(x);
    case Unary::Abs:
      return std::abs(x);
    case Unary::Neg:
      return -x;
    case Unary::Square:
      return x * x;
    case Unary::Reciprocal:
      return T(1) / x;
    case Unary::PositivePart:
      return x > T(0) ? x : T(0);
    case Unary::NegativePart:
      return x < T(0) ? x : T(0);
    case Unary::Sign:
      return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
    case Unary::SignPlus:
      return x >= T(0) ? T(1) : T(-1);
    case Unary::Step:
      return x > T(0) ? T(1) : T(0);
  }
  return x;
}

template <class T>
T apply_binary(Binary op, T a, T b) {
  switch (op) {
    case Binary::Add:
      return a + b;
    case Binary::Sub:
      return a - b;
    case Binary::Mul:
      return a * b;
    case Binary::Div:
      return a / b;
    case Binary::Max:
      return std::max(a, b);
    case Binary::Min:
      return std::min(a, b);
  }
  return a;
}

Shape broadcast_shape(const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) throw Error("cannot broadcast shapes " + shape_str(a) + " and " + shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Strides of `s` aligned to an n-d output, 0 on broadcast axes.
Shape broadcast_strides(const Shape& s, size_t n) {
  Shape st(n, 0);
  int64_t acc = 1;
  for (int i = static_cast<int>(s.size()) - 1; i >= 0; --i) {
    size_t j = n - s.size() + i;
    st[j] = s[i] == 1 ? 0 : acc;
    acc *= s[i];
  }
  return st;
}

// Element-wise passes are memory bound and run at several elements per nanosecond once vectorised:
// below ≈ 64 k elements a second thread saves less than a fork-join costs.
constexpr int64_t kGrain = 1 << 16;

// Calls f(std::integral_constant<Unary, op>) so the loop inside f is compiled once per op, with the op
// a constant: the switch in apply_unary folds away and the loop vectorises (a runtime switch per
// element keeps it scalar).
template <class F>
void with_unary(Unary op, const F& f) {
  switch (op) {
    case Unary::Relu:
      return f(std::integral_constant<Unary, Unary::Relu>{});
    case Unary::Sigmoid:
      return f(std::integral_constant<Unary, Unary::Sigmoid>{});
    case Unary::Tanh:
      return f(std::integral_constant<Unary, Unary::Tanh>{});
    case Unary::Exp:
      return f(std::integral_constant<Unary, Unary::Exp>{});
    case Unary::Log:
      return f(std::integral_constant<Unary, Unary::Log>{});
    case Unary::Sqrt:
      return f(std::integral_constant<Unary, Unary::Sqrt>{});
    case Unary::Abs:
      return f(std::integral_constant<Unary, Unary::Abs>{});
    case Unary::Neg:
      return f(std::integral_constant<Unary, Unary::Neg>{});
    case Unary::Square:
      return f(std::integral_constant<Unary, Unary::Square>{});
    case Unary::Reciprocal:
      return f(std::integral_constant<Unary, Unary::Reciprocal>{});
    case Unary::PositivePart:
      return f(std::integral_constant<Unary, Unary::PositivePart>{});
    case Unary::NegativePart:
      return f(std::integral_constant<Unary, Unary::NegativePart>{});
    case Unary::Sign:
      return f(std::integral_constant<Unary, Unary::Sign>{});
    case Unary::SignPlus:
      return f(std::integral_constant<Unary, Unary::SignPlus>{});
    case Unary::Step:
      return f(std::integral_constant<Unary, Unary::Step>{});
  }
  throw Error("unary op: unknown op " + std::to_string(static_cast<int>(op)));
}

template <class F>
void with_binary(Binary op, const F& f) {
  switch (op) {
    case Binary::Add:
      return f(std::integral_constant<Binary, Binary::Add>{});
    case Binary::Sub:
      return f(std::integral_constant<Binary, Binary::Sub>{});
    case Binary::Mul:
      return f(std::integral_constant<Binary, Binary::Mul>{});
    case Binary::Div:
      return f(std::integral_constant<Binary, Binary::Div>{});
    case Binary::Max:
      return f(std::integral_constant<Binary, Binary::Max>{});
    case Binary::Min:
      return f(std::integral_constant<Binary, Binary::Min>{});
  }
  throw Error("binary op: unknown op " + std::to_string(static_cast<int>(op)));
}

}  // namespace

Tensor unary(Unary op, const Tensor& x) {
  expect_float(x, "unary op");
  return backend_of("unary", x).unary(op, x);
}

static Tensor cpu_unary(Unary op, const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    with_unary(op, [&](auto k) {
      parallel_for(x.numel(), kGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) py[i] = apply_unary(decltype(k)::value, px[i]);
      });
    });
    return 0;
  });
  return y;
}

Tensor binary(Binary op, const Tensor& a, const Tensor& b) {
  expect_float(a, "binary op");
  expect_float(b, "binary op");
  expect_same_dtype(a, b, "binary op");
  return backend_of("binary", a, b).binary(op, a, b);
}

static Tensor cpu_binary(Binary op, const Tensor& a, const Tensor& b) {
  Shape out_shape = a.shape() == b.shape() ? a.shape() : broadcast_shape(a.shape(), b.shape());
  Tensor y = Tensor::empty(out_shape, a.dtype());
  dispatch_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* py = y.data<T>();
    if (a.shape() == b.shape()) {
      with_binary(op, [&](auto k) {
        parallel_for(y.numel(), kGrain, [&](int64_t s, int64_t e) {
          for (int64_t i = s; i < e; ++i) py[i] = apply_binary(decltype(k)::value, pa[i], pb[i]);
        });
      });
      return 0;
    }
    // Broadcasting: the trailing output axes over which each operand is either contiguous (its stride is the
    // output's) or constant (stride 0) form one inner run; the index arithmetic is done once per run, and
    // the run is a plain loop the compiler vectorises ((N, C, H, W) - (1, C, H, W): one run per sample;
    // (N, C, H, W) * (C, 1, 1): one run per plane).
    const size_t n = out_shape.size();
    Shape sa = broadcast_strides(a.shape(), n), sb = broadcast_strides(b.shape(), n);
    Shape so = y.strides();
    int a_mode = -1, b_mode = -1;  // 1: contiguous over the run, 0: constant over it
    int64_t inner = 1;
    for (size_t d = n; d-- > 0;) {
      if (out_shape[d] == 1) continue;
      const int am = sa[d] == so[d] ? 1 : sa[d] == 0 ? 0 : -2, bm = sb[d] == so[d] ? 1 : sb[d] == 0 ? 0 : -2;
      if (am < 0 || bm < 0 || (a_mode >= 0 && am != a_mode) || (b_mode >= 0 && bm != b_mode)) break;
      a_mode = am;
      b_mode = bm;
      inner *= out_shape[d];
    }
    const int64_t step_a = a_mode == 0 ? 0 : 1, step_b = b_mode == 0 ? 0 : 1;
    const int64_t outer = inner > 0 ? y.numel() / inner : 0;
    with_binary(op, [&](auto k) {
      parallel_for(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)), [&](int64_t s, int64_t e) {
        for (int64_t o = s; o < e; ++o) {
          int64_t rem = o * inner, ia = 0, ib = 0;
          for (size_t d = 0; d < n; ++d) {
            const int64_t c = rem / so[d];
            rem -= c * so[d];
            ia += c * sa[d];
            ib += c * sb[d];
          }
          T* out = py + o * inner;
          const T* ra = pa + ia;
          const T* rb = pb + ib;
          if (step_a == 1 && step_b == 1) {
            for (int64_t j = 0; j < inner; ++j) out[j] = apply_binary(decltype(k)::value, ra[j], rb[j]);
          } else if (step_a == 1) {
            for (int64_t j = 0; j < inner; ++j) out[j] = apply_binary(decltype(k)::value, ra[j], rb[0]);
          } else if (step_b == 1) {
            for (int64_t j = 0; j < inner; ++j) out[j] = apply_binary(decltype(k)::value, ra[0], rb[j]);
          } else {
            for (int64_t j = 0; j < inner; ++j) out[j] = apply_binary(decltype(k)::value, ra[0], rb[0]);
          }
        }
      });
    });
    return 0;
  });
  return y;
}

Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  expect_float(g, "sum_to_shape");
  return backend_of("sum_to_shape", g).sum_to_shape(g, shape);
}

static Tensor cpu_sum_to_shape(const Tensor& g, const Shape& shape) {
  const size_t n = g.shape().size();
  if (shape.size() > n) throw Error("sum_to_shape: " + shape_str(shape) + " is not broadcastable to " + g.describe());
  Tensor out(shape, g.dtype());
  Shape st = broadcast_strides(shape, n), sg = g.strides();
  dispatch_float(g.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pg = g.data<T>();
    T* po = out.data<T>();
    // Serial, in increasing flat order of g: a fixed summation order for every output element.
    for (int64_t i = 0, i_end = g.numel(); i < i_end; ++i) {
      int64_t rem = i, io = 0;
      for (size_t d = 0; d < n; ++d) {
        int64_t c = rem / sg[d];
        rem -= c * sg[d];
        io += c * st[d];
      }
      po[io] += pg[i];
    }
    return 0;
  });
  return out;
}

Tensor scale(const Tensor& x, double a) {
  expect_float(x, "scale");
  return backend_of("scale", x).scale(x, a);
}

static Tensor cpu_scale(const Tensor& x, double a) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());  // every element written below
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const T s = static_cast<T>(a);
    for (int64_t i = 0, i_end = x.numel(); i < i_end; ++i) py[i] = s * px[i];
    return 0;
  });
  return y;
}

Tensor add_scalar(const Tensor& x, double a) {
  expect_float(x, "add_scalar");
  return backend_of("add_scalar", x).add_scalar(x, a);
}

static Tensor cpu_add_scalar(const Tensor& x, double a) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());  // every element written below
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const T s = static_cast<T>(a);
    for (int64_t i = 0, i_end = x.numel(); i < i_end; ++i) py[i] = px[i] + s;
    return 0;
  });
  return y;
}

void add_inplace(Tensor& y, const Tensor& x) { axpy_inplace(y, 1.0, x); }

void axpy_inplace(Tensor& y, double a, const Tensor& x) {
  expect_float(y, "axpy");
  expect_same_dtype(y, x, "axpy");
  if (y.numel() != x.numel()) throw Error("axpy: " + x.describe() + " added to " + y.describe());
  return backend_of("axpy_inplace", y, x).axpy_inplace(y, a, x);
}

static void cpu_axpy_inplace(Tensor& y, double a, const Tensor& x) {
  dispatch_float(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const T s = static_cast<T>(a);
    if (a == 1.0) {
      for (int64_t i = 0, i_end = x.numel(); i < i_end; ++i) py[i] += px[i];
    } else {
      for (int64_t i = 0, i_end = x.numel(); i < i_end; ++i) py[i] += s * px[i];
    }
    return 0;
  });
}

Tensor stabilize(const Tensor& z, double eps) {
  expect_float(z, "stabilize");
  return backend_of("stabilize", z).stabilize(z, eps);
}

static Tensor cpu_stabilize(const Tensor& z, double eps) {
  Tensor y = Tensor::empty(z.shape(), z.dtype());  // every element written below
  dispatch_float(z.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pz = z.data<T>();
    T* py = y.data<T>();
    const T e = static_cast<T>(eps);
    for (int64_t i = 0, i_end = z.numel(); i < i_end; ++i) py[i] = pz[i] + (pz[i] >= T(0) ? e : -e);
    return 0;
  });
  return y;
}

Tensor clip(const Tensor& x, double lo, double hi) {
  expect_float(x, "clip");
  return backend_of("clip", x).clip(x, lo, hi);
}

static Tensor cpu_clip(const Tensor& x, double lo, double hi) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());  // every element written below
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for (int64_t i = 0, i_end = x.numel(); i < i_end; ++i)
      py[i] = std::min(std::max(px[i], static_cast<T>(lo)), static_cast<T>(hi));
    return 0;
  });
  return y;
}

double sum_all(const Tensor& x) {
  expect_float(x, "sum_all");
  return backend_of("sum_all", x).sum_all(x);
}

static double cpu_sum_all(const Tensor& x) {
  return dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* p = x.data<T>();
    double s = 0;
    for (int64_t i = 0, i_end = x.numel(); i < i_end; ++i) s += p[i];
    return s;
  });
}

double dot_all(const Tensor& a, const Tensor& b) {
  expect_float(a, "dot_all");
  expect_same_dtype(a, b, "dot_all");
  if (a.numel() != b.numel()) throw Error("dot_all: " + a.describe() + " vs " + b.describe());
  return backend_of("dot_all", a, b).dot_all(a, b);
}

static double cpu_dot_all(const Tensor& a, const Tensor& b) {
  return dispatch_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    double s = 0;
    for (int64_t i = 0, i_end = a.numel(); i < i_end; ++i) s += static_cast<double>(pa[i]) * pb[i];
    return s;
  });
}

// This file's entries of the CPU table (engine/cpu/backend_cpu.cpp).
void add_cpu_elementwise(Backend& b) {
  b.unary = cpu_unary;
  b.binary = cpu_binary;
  b.sum_to_shape = cpu_sum_to_shape;
  b.scale = cpu_scale;
  b.add_scalar = cpu_add_scalar;
  b.axpy_inplace = cpu_axpy_inplace;
  b.stabilize = cpu_stabilize;
  b.clip = cpu_clip;
  b.sum_all = cpu_sum_all;
  b.dot_all = cpu_dot_all;
}

}  // namespace xdnn::ops
