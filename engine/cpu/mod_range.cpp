// CPU twins of engine/ops_onnx.h's float Mod (ONNX Mod, fmod = 0 / 1, with the quotient the backward pass
// needs) and arange (ONNX Range's values once its length is known).
#include <cmath>
#include <string>

#include "engine/backend.h"
#include "engine/cpu/backend_cpu.h"
#include "engine/dispatch.h"
#include "engine/ops_onnx.h"
#include "engine/parallel.h"
#include "engine/shape_util.h"

namespace xdnn::ops {
namespace {

// Strides of t aligned right against the broadcast shape ys, 0 on the axes t broadcasts.
std::vector<int64_t> aligned_strides(const Tensor& t, const Shape& ys) {
  std::vector<int64_t> s(ys.size(), 0);
  const Shape ts = t.strides();
  const int shift = static_cast<int>(ys.size()) - t.ndim();
  for (int d = 0; d < t.ndim(); ++d) s[d + shift] = t.dim(d) == 1 ? 0 : ts[d];
  return s;
}

}  // namespace

std::vector<Tensor> mod(const Tensor& a, const Tensor& b, bool fmod) {
  if (!a.defined() || !b.defined()) throw Error("mod: missing operand");
  expect_float(a, "mod");
  expect_same_dtype(a, b, "mod");
  broadcast_shapes(a.shape(), b.shape());  // throws naming both shapes when they do not broadcast
  return backend_of("mod", a, b).mod(a, b, fmod);
}

static std::vector<Tensor> cpu_mod(const Tensor& a, const Tensor& b, bool fmod) {
  const Shape ys = broadcast_shapes(a.shape(), b.shape());
  const std::vector<int64_t> sa = aligned_strides(a, ys), sb = aligned_strides(b, ys);
  Tensor y(ys, a.dtype()), q(ys, a.dtype());
  const int n = static_cast<int>(ys.size());
  dispatch_float(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* py = y.data<T>();
    T* pq = q.data<T>();
    parallel_for(y.numel(), grain_for_work(8), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        int64_t rem = i, ia = 0, ib = 0;
        for (int d = n - 1; d >= 0; --d) {
          const int64_t c = rem % ys[d];
          rem /= ys[d];
          ia += c * sa[d], ib += c * sb[d];
        }
        const double u = static_cast<double>(pa[ia]), v = static_cast<double>(pb[ib]);
        const double qi = fmod ? std::trunc(u / v) : std::floor(u / v);
        pq[i] = static_cast<T>(qi);
        py[i] = static_cast<T>(fmod ? std::fmod(u, v) : u - v * qi);
      }
    });
    return 0;
  });
  return {y, q};
}

Tensor arange(const Tensor& start, const Tensor& delta, int64_t n) {
  if (!start.defined() || !delta.defined() || start.numel() != 1 || delta.numel() != 1)
    throw Error("arange: start and delta must be one-element tensors");
  expect_same_dtype(start, delta, "arange");
  if (n < 0) throw Error("arange: negative length " + std::to_string(n));
  return backend_of("arange", start, delta).arange(start, delta, n);
}

static Tensor cpu_arange(const Tensor& start, const Tensor& delta, int64_t n) {
  Tensor y({n}, start.dtype());
  if (start.dtype() == DType::I64) {  // exact; wraps (no undefined behaviour) where int64 would overflow
    const uint64_t s = static_cast<uint64_t>(start.data<int64_t>()[0]);
    const uint64_t d = static_cast<uint64_t>(delta.data<int64_t>()[0]);
    int64_t* py = y.data<int64_t>();
    for (int64_t i = 0; i < n; ++i) py[i] = static_cast<int64_t>(s + static_cast<uint64_t>(i) * d);
    return y;
  }
  dispatch_float(start.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const double s = static_cast<double>(start.data<T>()[0]), d = static_cast<double>(delta.data<T>()[0]);
    T* py = y.data<T>();
    for (int64_t i = 0; i < n; ++i) py[i] = static_cast<T>(s + static_cast<double>(i) * d);
    return 0;
  });
  return y;
}

// This file's entries of the CPU table (engine/cpu/backend_cpu.cpp).
void add_cpu_mod_range(Backend& b) {
  b.mod = cpu_mod;
  b.arange = cpu_arange;
}

}  // namespace xdnn::ops
