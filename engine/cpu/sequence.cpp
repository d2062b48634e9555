// CPU primitives of the sequence layers: axis permutation, embedding gather / scatter-add, last-axis
// concat and slice, batched matmul, softmax, layer normalisation, GELU / erf.
// Every output element is computed independently (or by a serial loop in a fixed order), so results do
// not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/cpu/gemm.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/shape_util.h"

namespace xdnn::ops {

Tensor permute_axes(const Tensor& x, const std::vector<int>& perm) {
  return backend_of("permute_axes", x).permute_axes(x, perm);
}

static Tensor cpu_permute_axes(const Tensor& x, const std::vector<int>& perm) {
  const int n = x.ndim();
  if (static_cast<int>(perm.size()) != n)
    throw Error("permute_axes: permutation of the wrong length for " + x.describe());
  std::vector<bool> seen(n, false);
  Shape out_shape(n);
  for (int i = 0; i < n; ++i) {
    if (perm[i] < 0 || perm[i] >= n || seen[perm[i]])
      throw Error("permute_axes: invalid permutation for " + x.describe());
    seen[perm[i]] = true;
    out_shape[i] = x.shape()[perm[i]];
  }
  Tensor y(out_shape, x.dtype());
  const Shape xs = x.strides(), ys = y.strides();
  Shape src_stride(n);  // stride in x of output axis i
  for (int i = 0; i < n; ++i) src_stride[i] = xs[perm[i]];
  const size_t es = dtype_size(x.dtype());
  const char* px = static_cast<const char*>(x.raw_data());
  char* py = static_cast<char*>(y.raw_data());
  parallel_for(y.numel(), 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      int64_t rem = i, src = 0;
      for (int d = 0; d < n; ++d) {
        const int64_t c = rem / ys[d];
        rem -= c * ys[d];
        src += c * src_stride[d];
      }
      std::memcpy(py + i * es, px + src * es, es);
    }
  });
  return y;
}

Tensor gather_rows(const Tensor& table, const Tensor& ids) {
  expect_float(table, "embedding table");
  if (table.ndim() != 2) throw Error("embedding table: expected (V, d), got " + table.describe());
  if (ids.dtype() != DType::I64) throw Error("embedding ids: expected int64 token ids, got " + ids.describe());
  return backend_of("gather_rows", table, ids).gather_rows(table, ids);
}

static Tensor cpu_gather_rows(const Tensor& table, const Tensor& ids) {
  const int64_t V = table.dim(0), d = table.dim(1);
  const int64_t* pi = ids.data<int64_t>();
  for (int64_t i = 0, i_end = ids.numel(); i < i_end; ++i)
    if (pi[i] < 0 || pi[i] >= V)
      throw Error("embedding ids: id " + std::to_string(pi[i]) + " at flat position " + std::to_string(i) +
                  " is outside the valid range [0, " + std::to_string(V - 1) + "]");
  Shape out_shape = ids.shape();
  out_shape.push_back(d);
  Tensor y(out_shape, table.dtype());
  const size_t row_bytes = static_cast<size_t>(d) * dtype_size(table.dtype());
  const char* pt = static_cast<const char*>(table.raw_data());
  char* py = static_cast<char*>(y.raw_data());
  for (int64_t i = 0, i_end = ids.numel(); i < i_end; ++i)
    std::memcpy(py + i * row_bytes, pt + pi[i] * row_bytes, row_bytes);
  return y;
}

Tensor scatter_add_rows(const Tensor& g, const Tensor& ids, int64_t num_rows) {
  expect_float(g, "scatter_add_rows");
  return backend_of("scatter_add_rows", g, ids).scatter_add_rows(g, ids, num_rows);
}

static Tensor cpu_scatter_add_rows(const Tensor& g, const Tensor& ids, int64_t num_rows) {
  const int64_t d = g.dim(-1);
  if (g.numel() != ids.numel() * d) throw Error("scatter_add_rows: " + g.describe() + " vs ids " + ids.describe());
  Tensor out({num_rows, d}, g.dtype());
  const int64_t* pi = ids.data<int64_t>();
  dispatch_float(g.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pg = g.data<T>();
    T* po = out.data<T>();
    for (int64_t i = 0, i_end = ids.numel(); i < i_end; ++i) {  // serial: a fixed summation order per row
      if (pi[i] < 0 || pi[i] >= num_rows)
        throw Error("scatter_add_rows: id " + std::to_string(pi[i]) + " out of range");
      T* row = po + pi[i] * d;
      const T* src = pg + i * d;
      for (int64_t j = 0; j < d; ++j) row[j] += src[j];
    }
    return 0;
  });
  return out;
}

Tensor concat_last_axis(const std::vector<Tensor>& xs) {
  if (xs.empty()) throw Error("concat_last_axis: no tensors");
  return backend_of("concat_last_axis", xs).concat_last_axis(xs);
}

static Tensor cpu_concat_last_axis(const std::vector<Tensor>& xs) {
  Shape s = xs[0].shape();
  int64_t total = 0;
  for (const auto& x : xs) {
    if (x.ndim() != xs[0].ndim() || x.dtype() != xs[0].dtype())
      throw Error("concat_last_axis: " + x.describe() + " vs " + xs[0].describe());
    for (int i = 0; i + 1 < x.ndim(); ++i)
      if (x.shape()[i] != s[i]) throw Error("concat_last_axis: " + x.describe() + " vs " + xs[0].describe());
    total += x.dim(-1);
  }
  s.back() = total;
  Tensor y(s, xs[0].dtype());
  const size_t es = dtype_size(y.dtype());
  const int64_t rows = total ? y.numel() / total : 0;
  char* py = static_cast<char*>(y.raw_data());
  int64_t off = 0;
  for (const auto& x : xs) {
    const int64_t w = x.dim(-1);
    const char* px = static_cast<const char*>(x.raw_data());
    for (int64_t r = 0; r < rows; ++r) std::memcpy(py + (r * total + off) * es, px + r * w * es, w * es);
    off += w;
  }
  return y;
}

Tensor slice_last_axis(const Tensor& x, int64_t begin, int64_t end) {
  return backend_of("slice_last_axis", x).slice_last_axis(x, begin, end);
}

static Tensor cpu_slice_last_axis(const Tensor& x, int64_t begin, int64_t end) {
  const int64_t D = x.dim(-1);
  if (begin < 0 || end > D || begin > end)
    throw Error("slice_last_axis [" + std::to_string(begin) + ", " + std::to_string(end) + ") of " + x.describe());
  Shape s = x.shape();
  s.back() = end - begin;
  Tensor y(s, x.dtype());
  const size_t es = dtype_size(x.dtype());
  const int64_t rows = D ? x.numel() / D : 0, w = end - begin;
  const char* px = static_cast<const char*>(x.raw_data());
  char* py = static_cast<char*>(y.raw_data());
  for (int64_t r = 0; r < rows; ++r) std::memcpy(py + r * w * es, px + (r * D + begin) * es, w * es);
  return y;
}

Tensor batched_matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  expect_float(a, "batched_matmul");
  expect_same_dtype(a, b, "batched_matmul");
  if (a.ndim() != 3 || b.ndim() != 3 || a.dim(0) != b.dim(0))
    throw Error("batched_matmul: expected (B, ., .) operands, got " + a.describe() + " and " + b.describe());
  return backend_of("batched_matmul", a, b).batched_matmul(a, b, ta, tb);
}

static Tensor cpu_batched_matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const int64_t B = a.dim(0), M = ta ? a.dim(2) : a.dim(1), K = ta ? a.dim(1) : a.dim(2);
  const int64_t Kb = tb ? b.dim(2) : b.dim(1), N = tb ? b.dim(1) : b.dim(2);
  if (K != Kb) throw Error("batched_matmul: inner dimensions differ: " + a.describe() + " and " + b.describe());
  Tensor c({B, M, N}, a.dtype());
  dispatch_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* pc = c.data<T>();
    const int64_t sa = a.dim(1) * a.dim(2), sb = b.dim(1) * b.dim(2);
    parallel_for(B, 1, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i)
        cpu::gemm_serial<T>(ta, tb, M, N, K, T(1), pa + i * sa, a.dim(2), pb + i * sb, b.dim(2), T(0), pc + i * M * N,
                            N);
    });
    return 0;
  });
  return c;
}

Tensor softmax_last_axis(const Tensor& x) {
  expect_float(x, "softmax");
  return backend_of("softmax_last_axis", x).softmax_last_axis(x);
}

static Tensor cpu_softmax_last_axis(const Tensor& x) {
  Tensor y(x.shape(), x.dtype());
  const int64_t D = x.dim(-1), rows = D ? x.numel() / D : 0;
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(rows, 64, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* xr = px + r * D;
        T* yr = py + r * D;
        T m = xr[0];
        for (int64_t j = 1; j < D; ++j) m = std::max(m, xr[j]);
        T s = 0;
        for (int64_t j = 0; j < D; ++j) s += (yr[j] = std::exp(xr[j] - m));
        for (int64_t j = 0; j < D; ++j) yr[j] /= s;
      }
    });
    return 0;
  });
  return y;
}

Tensor softmax_last_axis_backward(const Tensor& y, const Tensor& dy) {
  expect_same_dtype(y, dy, "softmax backward");
  return backend_of("softmax_last_axis_backward", y, dy).softmax_last_axis_backward(y, dy);
}

static Tensor cpu_softmax_last_axis_backward(const Tensor& y, const Tensor& dy) {
  Tensor dx(y.shape(), y.dtype());
  const int64_t D = y.dim(-1), rows = D ? y.numel() / D : 0;
  dispatch_float(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* py = y.data<T>();
    const T* pg = dy.data<T>();
    T* pd = dx.data<T>();
    parallel_for(rows, 64, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        T s = 0;
        for (int64_t j = 0; j < D; ++j) s += py[r * D + j] * pg[r * D + j];
        for (int64_t j = 0; j < D; ++j) pd[r * D + j] = py[r * D + j] * (pg[r * D + j] - s);
      }
    });
    return 0;
  });
  return dx;
}

std::vector<Tensor> layer_norm_forward(const Tensor& x, int64_t d, double eps) {
  expect_float(x, "layer_norm");
  if (d <= 0 || x.numel() % d)
    throw Error("layer_norm: cannot normalise groups of " + std::to_string(d) + " in " + x.describe());
  return backend_of("layer_norm_forward", x).layer_norm_forward(x, d, eps);
}

static std::vector<Tensor> cpu_layer_norm_forward(const Tensor& x, int64_t d, double eps) {
  const int64_t rows = x.numel() / d;
  Tensor xhat(x.shape(), x.dtype()), rstd({rows}, x.dtype());
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* ph = xhat.data<T>();
    T* pr = rstd.data<T>();
    parallel_for(rows, 64, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* xr = px + r * d;
        T mean = 0, var = 0;
        for (int64_t j = 0; j < d; ++j) mean += xr[j];
        mean /= static_cast<T>(d);
        for (int64_t j = 0; j < d; ++j) var += (xr[j] - mean) * (xr[j] - mean);
        var /= static_cast<T>(d);
        const T rs = T(1) / std::sqrt(var + static_cast<T>(eps));
        pr[r] = rs;
        for (int64_t j = 0; j < d; ++j) ph[r * d + j] = (xr[j] - mean) * rs;
      }
    });
    return 0;
  });
  return {xhat, rstd};
}

Tensor layer_norm_backward(const Tensor& dxhat, const Tensor& xhat, const Tensor& rstd) {
  expect_same_dtype(dxhat, xhat, "layer_norm backward");
  return backend_of("layer_norm_backward", dxhat, xhat, rstd).layer_norm_backward(dxhat, xhat, rstd);
}

static Tensor cpu_layer_norm_backward(const Tensor& dxhat, const Tensor& xhat, const Tensor& rstd) {
  const int64_t rows = rstd.numel(), d = rows ? xhat.numel() / rows : 0;
  Tensor dx(xhat.shape(), xhat.dtype());
  dispatch_float(xhat.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pg = dxhat.data<T>();
    const T* ph = xhat.data<T>();
    const T* pr = rstd.data<T>();
    T* pd = dx.data<T>();
    parallel_for(rows, 64, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        T mg = 0, mgh = 0;
        for (int64_t j = 0; j < d; ++j) {
          mg += pg[r * d + j];
          mgh += pg[r * d + j] * ph[r * d + j];
        }
        mg /= static_cast<T>(d);
        mgh /= static_cast<T>(d);
        for (int64_t j = 0; j < d; ++j) pd[r * d + j] = pr[r] * (pg[r * d + j] - mg - ph[r * d + j] * mgh);
      }
    });
    return 0;
  });
  return dx;
}

Tensor center_last_axis(const Tensor& x) {
  expect_float(x, "center_last_axis");
  return backend_of("center_last_axis", x).center_last_axis(x);
}

static Tensor cpu_center_last_axis(const Tensor& x) {
  const int64_t D = x.dim(-1), rows = D ? x.numel() / D : 0;
  Tensor y(x.shape(), x.dtype());
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for (int64_t r = 0; r < rows; ++r) {
      T m = 0;
      for (int64_t j = 0; j < D; ++j) m += px[r * D + j];
      m /= static_cast<T>(D);
      for (int64_t j = 0; j < D; ++j) py[r * D + j] = px[r * D + j] - m;
    }
    return 0;
  });
  return y;
}

namespace {

template <class Fn>
Tensor map_float(const Tensor& x, const char* what, Fn fn) {
  expect_float(x, what);
  Tensor y(x.shape(), x.dtype());
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(x.numel(), 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) py[i] = static_cast<T>(fn(static_cast<double>(px[i])));
    });
    return 0;
  });
  return y;
}

constexpr double kSqrt2 = 1.4142135623730951, kTwoOverSqrtPi = 1.1283791670955126;
constexpr double kSqrt2OverPi = 0.7978845608028654, kGeluC = 0.044715;

}  // namespace

// Computed in double whatever the storage type: erf/tanh in float would cost accuracy for nothing.
Tensor gelu(const Tensor& x, bool tanh_approximation) { return backend_of("gelu", x).gelu(x, tanh_approximation); }

static Tensor cpu_gelu(const Tensor& x, bool tanh_approximation) {
  if (tanh_approximation)
    return map_float(x, "gelu",
                     [](double v) { return 0.5 * v * (1.0 + std::tanh(kSqrt2OverPi * (v + kGeluC * v * v * v))); });
  return map_float(x, "gelu", [](double v) { return 0.5 * v * (1.0 + std::erf(v / kSqrt2)); });
}

Tensor gelu_derivative(const Tensor& x, bool tanh_approximation) {
  return backend_of("gelu_derivative", x).gelu_derivative(x, tanh_approximation);
}

static Tensor cpu_gelu_derivative(const Tensor& x, bool tanh_approximation) {
  if (tanh_approximation)
    return map_float(x, "gelu", [](double v) {
      const double u = kSqrt2OverPi * (v + kGeluC * v * v * v), t = std::tanh(u);
      return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * kSqrt2OverPi * (1.0 + 3.0 * kGeluC * v * v);
    });
  return map_float(x, "gelu", [](double v) {
    return 0.5 * (1.0 + std::erf(v / kSqrt2)) + v * std::exp(-0.5 * v * v) * (kTwoOverSqrtPi / (2.0 * kSqrt2));
  });
}

Tensor erf(const Tensor& x) { return backend_of("erf", x).erf(x); }

static Tensor cpu_erf(const Tensor& x) {
  return map_float(x, "erf", [](double v) { return std::erf(v); });
}
Tensor erf_derivative(const Tensor& x) { return backend_of("erf_derivative", x).erf_derivative(x); }

static Tensor cpu_erf_derivative(const Tensor& x) {
  return map_float(x, "erf", [](double v) { return kTwoOverSqrtPi * std::exp(-v * v); });
}

}  // namespace xdnn::ops

namespace xdnn::ops {
namespace {

// Flat source index in a tensor of shape `s` for every element of an `out`-shaped result.
std::vector<int64_t> broadcast_index(const Shape& s, const Shape& out) {
  const size_t n = out.size();
  Shape st(n, 0);
  int64_t acc = 1;
  for (int i = static_cast<int>(s.size()) - 1; i >= 0; --i) {
    st[n - s.size() + i] = s[i] == 1 ? 0 : acc;
    acc *= s[i];
  }
  const int64_t total = shape_numel(out);
  std::vector<int64_t> idx(total);
  std::vector<int64_t> c(n, 0);
  int64_t src = 0;  // Σ_d c[d]·st[d], kept up to date as the odometer c advances
  for (int64_t i = 0; i < total; ++i) {
    idx[i] = src;
    for (int d = static_cast<int>(n) - 1; d >= 0; --d) {
      src += st[d];
      if (++c[d] < out[d]) break;
      src -= st[d] * out[d];
      c[d] = 0;
    }
  }
  return idx;
}

}  // namespace

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  return backend_of("broadcast_to", x).broadcast_to(x, shape);
}

static Tensor cpu_broadcast_to(const Tensor& x, const Shape& shape) {
  const Shape out = broadcast_shapes(x.shape(), shape);
  Tensor y(out, x.dtype());
  const std::vector<int64_t> idx = broadcast_index(x.shape(), out);
  const size_t es = dtype_size(x.dtype());
  const char* px = static_cast<const char*>(x.raw_data());
  char* py = static_cast<char*>(y.raw_data());
  for (int64_t i = 0, i_end = y.numel(); i < i_end; ++i) std::memcpy(py + i * es, px + idx[i] * es, es);
  return y;
}

Tensor where(const Tensor& cond, const Tensor& x, const Tensor& y) {
  if (x.dtype() != y.dtype()) throw Error("where: mixed dtypes " + x.describe() + " and " + y.describe());
  return backend_of("where", cond, x, y).where(cond, x, y);
}

static Tensor cpu_where(const Tensor& cond, const Tensor& x, const Tensor& y) {
  const Shape out = broadcast_shapes(broadcast_shapes(cond.shape(), x.shape()), y.shape());
  // An operand of the output's shape reads element i itself (no index table); the others through
  // broadcast_index. The condition is read as double, as item() reads it; x and y are copied bit for bit.
  auto table = [&out](const Tensor& t) {
    return t.shape() == out ? std::vector<int64_t>() : broadcast_index(t.shape(), out);
  };
  const std::vector<int64_t> ic = table(cond), ix = table(x), iy = table(y);
  const Tensor c64 = cond.to(DType::F64);
  Tensor r(out, x.dtype());
  auto select = [&](auto bits) {
    using T = decltype(bits);
    const T *px = static_cast<const T*>(x.raw_data()), *py = static_cast<const T*>(y.raw_data());
    const double* pc = c64.data<double>();
    T* pr = static_cast<T*>(r.raw_data());
    for (int64_t i = 0, i_end = r.numel(); i < i_end; ++i) {
      const bool c = pc[ic.empty() ? i : ic[i]] != 0.0;
      pr[i] = c ? px[ix.empty() ? i : ix[i]] : py[iy.empty() ? i : iy[i]];
    }
  };
  if (dtype_size(x.dtype()) == 4)
    select(uint32_t{});
  else
    select(uint64_t{});
  return r;
}

// This file's entries of the CPU table (engine/cpu/backend_cpu.cpp).
void add_cpu_sequence(Backend& b) {
  b.permute_axes = cpu_permute_axes;
  b.gather_rows = cpu_gather_rows;
  b.scatter_add_rows = cpu_scatter_add_rows;
  b.concat_last_axis = cpu_concat_last_axis;
  b.slice_last_axis = cpu_slice_last_axis;
  b.batched_matmul = cpu_batched_matmul;
  b.softmax_last_axis = cpu_softmax_last_axis;
  b.softmax_last_axis_backward = cpu_softmax_last_axis_backward;
  b.layer_norm_forward = cpu_layer_norm_forward;
  b.layer_norm_backward = cpu_layer_norm_backward;
  b.center_last_axis = cpu_center_last_axis;
  b.gelu = cpu_gelu;
  b.gelu_derivative = cpu_gelu_derivative;
  b.erf = cpu_erf;
  b.erf_derivative = cpu_erf_derivative;
  b.broadcast_to = cpu_broadcast_to;
  b.where = cpu_where;
}

}  // namespace xdnn::ops
