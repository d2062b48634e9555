// CPU twins of engine/ops_fill.h: random fills, length and attention masks, sinusoidal positions, one-hot
// seeds, arg-max, integration path points and the quadrature sum, the max-pool gather. Each op checks its
// arguments once, here, then calls the entry of its operands' device (engine/backend.h): the cpu_* function
// here, or the CUDA twin (the CUDA backend's fill.cu).
// Integer arguments that decide validity (lengths, targets) are checked on a host copy (a few numbers).
#include <cmath>
#include <limits>
#include <string>

#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/parallel.h"

namespace xdnn::ops {
namespace {

constexpr int64_t kGrain = 1 << 15;

// The int64 (n) vector `t` as a host tensor (itself on the CPU, else a copy), after checking its type.
Tensor host_index_vector(const Tensor& t, int64_t n, const char* what, const char* name) {
  if (!t.defined() || t.dtype() != DType::I64 || t.ndim() != 1 || t.dim(0) != n)
    throw Error(std::string(what) + ": expected " + name + " int64 (" + std::to_string(n) + "), got " +
                (t.defined() ? t.describe() : std::string("an undefined tensor")));
  return t.device() == Device::CPU ? t : t.to(Device::CPU);
}

// Draws into a host tensor of t's shape and dtype with draw(), then copies it to t's device.
template <class Draw>
void fill_serial(Tensor& t, const char* what, Draw draw) {
  if (!t.defined() || !t.is_float()) throw Error(std::string(what) + ": expected a float tensor");
  Tensor host = t.device() == Device::CPU ? t : Tensor(t.shape(), t.dtype());
  dispatch_float(t.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* p = host.data<T>();
    for (int64_t i = 0, n = host.numel(); i < n; ++i) p[i] = static_cast<T>(draw());
    return 0;
  });
  if (t.device() != Device::CPU) t.copy_from(host);
}

}  // namespace

Tensor full(Shape shape, double value, DType dtype, Device device) {
  Tensor t(std::move(shape), dtype, device);
  t.fill(value);  // Tensor::fill runs on the tensor's device
  return t;
}

void fill_uniform_inplace(Tensor& t, double lo, double hi, Rng& rng) {
  fill_serial(t, "fill_uniform", [&] { return rng.uniform(lo, hi); });
}

void fill_normal_inplace(Tensor& t, double mean, double std, Rng& rng) {
  fill_serial(t, "fill_normal", [&] { return mean + std * rng.normal(); });
}

Tensor length_mask(const Tensor& lengths, int64_t T, bool time_major, bool mean, int64_t min_length, DType dtype,
                   const char* what) {
  const int64_t N = lengths.defined() ? lengths.numel() : 0;
  const Tensor host = host_index_vector(lengths, N, what, "lengths");
  const int64_t* len = host.data<int64_t>();
  for (int64_t n = 0; n < N; ++n)
    if (len[n] < min_length || len[n] > T)
      throw Error(std::string(what) + ": length " + std::to_string(len[n]) + " of sample " + std::to_string(n) +
                  " is outside [" + std::to_string(min_length) + ", " + std::to_string(T) + "]");
  return backend_of("length_mask", lengths).length_mask(lengths, T, time_major, mean, dtype);
}

// lengths: int64 (N), checked by length_mask.
static Tensor cpu_length_mask(const Tensor& lengths, int64_t T, bool time_major, bool mean, DType dtype) {
  const int64_t N = lengths.defined() ? lengths.numel() : 0;
  const int64_t* len = N ? lengths.data<int64_t>() : nullptr;
  Tensor m = time_major ? Tensor({T, N}, dtype) : Tensor({N, T}, dtype);
  dispatch_float(dtype, [&](auto zero) {
    using T_ = decltype(zero);
    T_* p = m.data<T_>();
    for (int64_t n = 0; n < N; ++n) {
      const T_ v = mean ? static_cast<T_>(1.0 / static_cast<double>(len[n])) : T_(1);
      for (int64_t t = 0; t < len[n]; ++t) p[time_major ? t * N + n : n * T + t] = v;
    }
    return 0;
  });
  return m;
}

Tensor attention_mask(int64_t N, int64_t T, bool causal, const Tensor& key_padding, DType dtype, Device device) {
  if (key_padding.defined()) {
    if (key_padding.ndim() != 2 || key_padding.dim(0) != N || key_padding.dim(1) != T)
      throw Error("attention mask: expected key_padding_mask (" + std::to_string(N) + ", " + std::to_string(T) +
                  "), got " + key_padding.describe());
    device = key_padding.device();
  }
  return backend(device).attention_mask(N, T, causal, key_padding, dtype);
}

static Tensor cpu_attention_mask(int64_t N, int64_t T, bool causal, const Tensor& key_padding, DType dtype) {
  Tensor m({N, 1, T, T}, dtype);
  const Tensor kpm = key_padding.defined() ? key_padding.to(DType::F64) : Tensor();
  const double* pk = kpm.defined() ? kpm.data<double>() : nullptr;
  dispatch_float(dtype, [&](auto zero) {
    using T_ = decltype(zero);
    T_* p = m.data<T_>();
    const T_ inf = std::numeric_limits<T_>::infinity();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < T; ++i)
        for (int64_t j = 0; j < T; ++j)
          if ((causal && j > i) || (pk && pk[n * T + j] != 0.0)) p[(n * T + i) * T + j] = -inf;
    return 0;
  });
  return m;
}

Tensor sinusoid_table(int64_t T, int64_t d, DType dtype, Device device) {
  if (T < 0 || d < 1)
    throw Error("sinusoid table: expected T >= 0 and d >= 1, got " + std::to_string(T) + ", " + std::to_string(d));
  return backend(device).sinusoid_table(T, d, dtype);
}

static Tensor cpu_sinusoid_table(int64_t T, int64_t d, DType dtype) {
  Tensor P = Tensor::empty({T, d}, dtype);
  dispatch_float(dtype, [&](auto zero) {
    using T_ = decltype(zero);
    T_* p = P.data<T_>();
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < d; ++j) {
        const double freq = std::pow(10000.0, -static_cast<double>(j - j % 2) / static_cast<double>(d));
        p[t * d + j] = static_cast<T_>(j % 2 == 0 ? std::sin(t * freq) : std::cos(t * freq));
      }
    return 0;
  });
  return P;
}

namespace {

// Checks targets (R) against [0, K); returns the host copy.
Tensor checked_targets(const Tensor& targets, int64_t R, int64_t K, const char* what) {
  const Tensor host = host_index_vector(targets, R, what, "targets");
  const int64_t* t = host.data<int64_t>();
  for (int64_t r = 0; r < R; ++r)
    if (t[r] < 0 || t[r] >= K)
      throw Error(std::string(what) + ": target " + std::to_string(t[r]) + " of row " + std::to_string(r) +
                  " is outside [0, " + std::to_string(K - 1) + "]");
  return host;
}

}  // namespace

Tensor one_hot(const Tensor& targets, int64_t K, DType dtype) {
  const int64_t R = targets.defined() ? targets.numel() : 0;
  const Tensor host = checked_targets(targets, R, K, "one_hot");
  if (dtype != DType::F32 && dtype != DType::F64) throw Error("one_hot: expected a float dtype");
  return backend_of("one_hot", targets).one_hot(targets, K, dtype);
}

// targets: int64 (R) in [0, K), checked by one_hot.
static Tensor cpu_one_hot(const Tensor& targets, int64_t K, DType dtype) {
  const int64_t R = targets.defined() ? targets.numel() : 0;
  Tensor y({R, K}, dtype);
  const int64_t* t = R ? targets.data<int64_t>() : nullptr;
  for (int64_t r = 0; r < R; ++r) y.set_item(r * K + t[r], 1.0);
  return y;
}

Tensor keep_targets(const Tensor& x, const Tensor& targets) {
  expect_float(x, "keep_targets");
  if (x.ndim() != 2) throw Error("keep_targets: expected (rows, classes), got " + x.describe());
  const int64_t R = x.dim(0), K = x.dim(1);
  const Tensor host = checked_targets(targets, R, K, "keep_targets");
  return backend_of("keep_targets", x, targets).keep_targets(x, targets);
}

// x (R, K); targets int64 (R) in [0, K), checked by keep_targets.
static Tensor cpu_keep_targets(const Tensor& x, const Tensor& targets) {
  const int64_t R = x.dim(0), K = x.dim(1);
  Tensor y(x.shape(), x.dtype());
  const int64_t* t = R ? targets.data<int64_t>() : nullptr;
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for (int64_t r = 0; r < R; ++r) py[r * K + t[r]] = px[r * K + t[r]];
    return 0;
  });
  return y;
}

Tensor argmax_last_axis(const Tensor& x) {
  expect_float(x, "argmax");
  if (x.ndim() < 1 || x.dim(-1) < 1) throw Error("argmax: expected a non-empty last axis, got " + x.describe());
  return backend_of("argmax_last_axis", x).argmax_last_axis(x);
}

static Tensor cpu_argmax_last_axis(const Tensor& x) {
  const int64_t K = x.dim(-1), R = x.numel() / K;
  Shape s = x.shape();
  s.pop_back();
  Tensor y = Tensor::empty(s, DType::I64);
  int64_t* py = y.data<int64_t>();
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    for (int64_t r = 0; r < R; ++r) {
      int64_t best = 0;
      for (int64_t k = 1; k < K; ++k)
        if (px[r * K + k] > px[r * K + best] ||
            (px[r * K + best] != px[r * K + best] && px[r * K + k] == px[r * K + k]))
          best = k;
      py[r] = best;
    }
    return 0;
  });
  return y;
}

std::vector<int64_t> index_vector(const Tensor& t) {
  if (!t.defined() || t.dtype() != DType::I64)
    throw Error("index_vector: expected an int64 tensor, got " +
                (t.defined() ? t.describe() : std::string("an undefined tensor")));
  const Tensor host = t.device() == Device::CPU ? t : t.to(Device::CPU);
  return std::vector<int64_t>(host.data<int64_t>(), host.data<int64_t>() + host.numel());
}

std::vector<double> value_vector(const Tensor& t) {
  if (!t.defined()) throw Error("value_vector: expected a tensor, got an undefined one");
  const Tensor host = (t.device() == Device::CPU ? t : t.to(Device::CPU)).to(DType::F64);
  return std::vector<double>(host.data<double>(), host.data<double>() + host.numel());
}

Tensor interpolate_rows(const Tensor& base, const Tensor& delta, const std::vector<double>& alphas) {
  expect_float(base, "interpolate_rows base");
  expect_same_dtype(base, delta, "interpolate_rows delta");
  expect_shape(delta, base.shape(), "interpolate_rows delta");
  if (base.ndim() < 1) throw Error("interpolate_rows: expected a batch (N, ...), got " + base.describe());
  return backend_of("interpolate_rows", base, delta).interpolate_rows(base, delta, alphas);
}

static Tensor cpu_interpolate_rows(const Tensor& base, const Tensor& delta, const std::vector<double>& alphas) {
  const int64_t k = static_cast<int64_t>(alphas.size());
  Shape s = base.shape();
  s[0] *= k;
  Tensor pts = Tensor::empty(s, base.dtype());
  const int64_t m = base.numel();
  dispatch_float(base.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pb = base.data<T>();
    const T* pd = delta.data<T>();
    T* pp = pts.data<T>();
    parallel_for(m, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t j = 0; j < k; ++j) {
        const T a = static_cast<T>(alphas[j]);
        T* row = pp + j * m;
        for (int64_t i = b; i < e; ++i) row[i] = pb[i] + a * pd[i];
      }
    });
    return 0;
  });
  return pts;
}

void accumulate_weighted_rows(Tensor& sum, const Tensor& g, const std::vector<double>& weights) {
  if (!sum.defined() || sum.dtype() != DType::F64)
    throw Error("accumulate_weighted_rows: expected a float64 sum, got " +
                (sum.defined() ? sum.describe() : std::string("an undefined tensor")));
  expect_float(g, "accumulate_weighted_rows g");
  const int64_t m = sum.numel(), k = static_cast<int64_t>(weights.size());
  if (g.numel() != k * m)
    throw Error("accumulate_weighted_rows: expected " + std::to_string(k) + " rows of " + std::to_string(m) +
                " elements, got " + g.describe());
  return backend_of("accumulate_weighted_rows", sum, g).accumulate_weighted_rows(sum, g, weights);
}

static void cpu_accumulate_weighted_rows(Tensor& sum, const Tensor& g, const std::vector<double>& weights) {
  const int64_t m = sum.numel(), k = static_cast<int64_t>(weights.size());
  double* ps = sum.data<double>();
  dispatch_float(g.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pg = g.data<T>();
    // Split over elements: each element's sum keeps its order over j, so any split gives the same bits.
    parallel_for(m, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t j = 0; j < k; ++j) {
        const double w = weights[j];
        const T* row = pg + j * m;
        for (int64_t i = b; i < e; ++i) ps[i] += w * static_cast<double>(row[i]);
      }
    });
    return 0;
  });
}

Tensor maxpool2d_gather(const Tensor& x, const Tensor& argmax) {
  expect_float(x, "maxpool2d_gather");
  if (x.ndim() != 4 || !argmax.defined() || argmax.dtype() != DType::I64 || argmax.ndim() != 4 ||
      argmax.dim(0) != x.dim(0) || argmax.dim(1) != x.dim(1))
    throw Error("maxpool2d_gather: expected x (N, C, H, W) and int64 argmax (N, C, OH, OW), got " + x.describe() +
                " and " + (argmax.defined() ? argmax.describe() : std::string("an undefined tensor")));
  return backend_of("maxpool2d_gather", x, argmax).maxpool2d_gather(x, argmax);
}

static Tensor cpu_maxpool2d_gather(const Tensor& x, const Tensor& argmax) {
  Tensor y = Tensor::empty(argmax.shape(), x.dtype());
  const int64_t planes = argmax.dim(0) * argmax.dim(1), in_plane = x.dim(2) * x.dim(3),
                out_plane = argmax.dim(2) * argmax.dim(3);
  const int64_t* am = argmax.data<int64_t>();
  dispatch_float(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t k = 0; k < out_plane; ++k) {
        const int64_t i = am[p * out_plane + k];
        py[p * out_plane + k] = i >= 0 ? px[p * in_plane + i] : T(0);
      }
    return 0;
  });
  return y;
}

// This file's entries of the CPU table (engine/cpu/backend_cpu.cpp).
void add_cpu_fill(Backend& b) {
  b.length_mask = cpu_length_mask;
  b.attention_mask = cpu_attention_mask;
  b.sinusoid_table = cpu_sinusoid_table;
  b.one_hot = cpu_one_hot;
  b.keep_targets = cpu_keep_targets;
  b.argmax_last_axis = cpu_argmax_last_axis;
  b.interpolate_rows = cpu_interpolate_rows;
  b.accumulate_weighted_rows = cpu_accumulate_weighted_rows;
  b.maxpool2d_gather = cpu_maxpool2d_gather;
}

}  // namespace xdnn::ops
