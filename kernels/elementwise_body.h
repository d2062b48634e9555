// Kernel bodies of kernels/elementwise.cu: one struct per kernel, operator()(i) computes output element i.
// CPU twins: engine/cpu/elementwise.cpp (same formulas, same order of operations).
#pragma once
#include <string>

#include "engine/ops.h"
#include "kernels/host_device.h"

namespace xdnn::cuda {

template <class T>
XDNN_HOST_DEVICE T apply_unary(ops::Unary op, T x) {
  switch (op) {
    case ops::Unary::Relu:
      return x > T(0) ? x : T(0);
    case ops::Unary::Sigmoid:
      return T(1) / (T(1) + kexp(-x));
    case ops::Unary::Tanh:
      return ktanh(x);
    case ops::Unary::Exp:
      return kexp(x);
    case ops::Unary::Log:
      return klog(x);
    case ops::Unary::Sqrt:
      return ksqrt(x);
    case ops::Unary::Abs:
      return kabs(x);
    case ops::Unary::Neg:
      return -x;
    case ops::Unary::Square:
      return x * x;
    case ops::Unary::Reciprocal:
      return T(1) / x;
    case ops::Unary::PositivePart:
      return x > T(0) ? x : T(0);
    case ops::Unary::NegativePart:
      return x < T(0) ? x : T(0);
    case ops::Unary::Sign:
      return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
    case ops::Unary::SignPlus:
      return x >= T(0) ? T(1) : T(-1);
    case ops::Unary::Step:
      return x > T(0) ? T(1) : T(0);
  }
  return x;
}

template <class T>
XDNN_HOST_DEVICE T apply_binary(ops::Binary op, T a, T b) {
  switch (op) {
    case ops::Binary::Add:
      return a + b;
    case ops::Binary::Sub:
      return a - b;
    case ops::Binary::Mul:
      return a * b;
    case ops::Binary::Div:
      return a / b;
    case ops::Binary::Max:
      return kmax(a, b);
    case ops::Binary::Min:
      return kmin(a, b);
  }
  return a;
}

template <class T>
struct UnaryBody {
  ops::Unary op;
  const T* x;
  T* y;
  XDNN_HOST_DEVICE void operator()(int64_t i) const { y[i] = apply_unary(op, x[i]); }
};

// Broadcast geometry of an n-d output (n <= kMaxBroadcastDims): row-major output strides and each operand's
// strides aligned to the output (0 on broadcast axes), as in engine/cpu/elementwise.cpp.
constexpr int kMaxBroadcastDims = 8;
struct Broadcast2 {
  int ndim = 0;
  int64_t out_strides[kMaxBroadcastDims] = {};
  int64_t a_strides[kMaxBroadcastDims] = {};
  int64_t b_strides[kMaxBroadcastDims] = {};
};

template <class T>
struct BinaryBody {
  ops::Binary op;
  const T* a;
  const T* b;
  T* y;
  bool same_shape;  // no broadcasting: element i of both operands
  Broadcast2 geo;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    if (same_shape) {
      y[i] = apply_binary(op, a[i], b[i]);
      return;
    }
    int64_t rem = i, ia = 0, ib = 0;
    for (int d = 0; d < geo.ndim; ++d) {
      const int64_t c = rem / geo.out_strides[d];
      rem -= c * geo.out_strides[d];
      ia += c * geo.a_strides[d];
      ib += c * geo.b_strides[d];
    }
    y[i] = apply_binary(op, a[ia], b[ib]);
  }
};

// sum_to_shape: output element o sums g over the axes that `shape` broadcasts (its size-1 and missing
// leading axes), in increasing flat order of g, which is the CPU's order (so the sums are identical).
struct SumToShapeGeometry {
  int ndim = 0;
  int64_t g_shape[kMaxBroadcastDims] = {};
  int64_t g_strides[kMaxBroadcastDims] = {};
  int64_t out_strides[kMaxBroadcastDims] = {};  // row-major strides of the output aligned to ndim axes
  bool reduced[kMaxBroadcastDims] = {};         // axes where the output has size 1 and g does not
  int64_t reduced_count = 1;                    // number of g elements summed into each output element
};

template <class T>
struct SumToShapeBody {
  const T* g;
  T* out;
  SumToShapeGeometry geo;
  XDNN_HOST_DEVICE void operator()(int64_t o) const {
    // Coordinates of output element o on the kept axes -> base offset in g.
    int64_t rem = o, base = 0;
    for (int d = 0; d < geo.ndim; ++d) {
      if (geo.reduced[d]) continue;
      const int64_t c = rem / geo.out_strides[d];
      rem -= c * geo.out_strides[d];
      base += c * geo.g_strides[d];
    }
    T s = T(0);
    for (int64_t r = 0; r < geo.reduced_count; ++r) {
      // r in row-major order over the reduced axes (last axis fastest).
      int64_t rr = r, off = base;
      for (int d = geo.ndim - 1; d >= 0; --d) {
        if (!geo.reduced[d]) continue;
        off += (rr % geo.g_shape[d]) * geo.g_strides[d];
        rr /= geo.g_shape[d];
      }
      s += g[off];
    }
    out[o] = s;
  }
};

// ---- geometry, built on the host (shared by kernels/elementwise.cu and the host test) ----------------

// NumPy broadcast of a and b -> output shape and the strides of each operand (throws as the CPU op).
inline Shape broadcast_geometry(const Shape& a, const Shape& b, Broadcast2& geo) {
  const size_t n = a.size() > b.size() ? a.size() : b.size();
  if (n > static_cast<size_t>(kMaxBroadcastDims))
    throw Error("binary op: the CUDA backend supports at most " + std::to_string(kMaxBroadcastDims) +
                " dimensions, got shapes " + shape_str(a) + " and " + shape_str(b));
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) throw Error("cannot broadcast shapes " + shape_str(a) + " and " + shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  geo.ndim = static_cast<int>(n);
  int64_t acc = 1, acc_a = 1, acc_b = 1;
  for (int d = geo.ndim - 1; d >= 0; --d) {
    const int64_t da = d < static_cast<int>(n - a.size()) ? 1 : a[d - (n - a.size())];
    const int64_t db = d < static_cast<int>(n - b.size()) ? 1 : b[d - (n - b.size())];
    geo.out_strides[d] = acc;
    geo.a_strides[d] = da == 1 ? 0 : acc_a;
    geo.b_strides[d] = db == 1 ? 0 : acc_b;
    acc *= out[d];
    acc_a *= da;
    acc_b *= db;
  }
  return out;
}

// Geometry of sum_to_shape(g, shape); throws unless `shape` broadcasts to g's shape.
inline SumToShapeGeometry sum_to_shape_geometry(const Shape& g_shape, const Shape& shape) {
  const size_t n = g_shape.size();
  if (shape.size() > n || n > static_cast<size_t>(kMaxBroadcastDims))
    throw Error("sum_to_shape: " + shape_str(shape) + " is not broadcastable to " + shape_str(g_shape) +
                " (or more than " + std::to_string(kMaxBroadcastDims) + " dimensions)");
  SumToShapeGeometry geo;
  geo.ndim = static_cast<int>(n);
  int64_t acc_g = 1, acc_o = 1;
  for (int d = geo.ndim - 1; d >= 0; --d) {
    const int64_t gd = g_shape[d];
    const int64_t od = d < static_cast<int>(n - shape.size()) ? 1 : shape[d - (n - shape.size())];
    if (od != gd && od != 1)
      throw Error("sum_to_shape: " + shape_str(shape) + " is not broadcastable to " + shape_str(g_shape));
    geo.g_shape[d] = gd;
    geo.g_strides[d] = acc_g;
    geo.out_strides[d] = acc_o;
    geo.reduced[d] = od == 1 && gd != 1;
    if (geo.reduced[d]) geo.reduced_count *= gd;
    acc_g *= gd;
    acc_o *= od;
  }
  return geo;
}

// y = s·x, y = x + s, y += s·x (s == 1: y += x), the LRP stabiliser, clip, fill.
template <class T>
struct ScaleBody {
  const T* x;
  T* y;
  T s;
  XDNN_HOST_DEVICE void operator()(int64_t i) const { y[i] = s * x[i]; }
};
template <class T>
struct AddScalarBody {
  const T* x;
  T* y;
  T s;
  XDNN_HOST_DEVICE void operator()(int64_t i) const { y[i] = x[i] + s; }
};
template <class T>
struct AxpyBody {
  const T* x;
  T* y;
  T s;
  bool unit;  // a == 1: plain add, as the CPU op
  XDNN_HOST_DEVICE void operator()(int64_t i) const { y[i] = unit ? y[i] + x[i] : y[i] + s * x[i]; }
};
template <class T>
struct StabilizeBody {
  const T* z;
  T* y;
  T eps;
  XDNN_HOST_DEVICE void operator()(int64_t i) const { y[i] = z[i] + (z[i] >= T(0) ? eps : -eps); }
};
template <class T>
struct ClipBody {
  const T* x;
  T* y;
  T lo, hi;
  XDNN_HOST_DEVICE void operator()(int64_t i) const { y[i] = kmin(kmax(x[i], lo), hi); }
};
template <class T>
struct FillBody {
  T* y;
  T value;
  XDNN_HOST_DEVICE void operator()(int64_t i) const { y[i] = value; }
};

// Tensor::to(DType) on the device: y = To(double(x)), as the CPU's conversion (an int64 rounds to double
// first, then to float; a float to int64 truncates toward zero).
template <class From, class To>
struct CastBody {
  const From* x;
  To* y;
  XDNN_HOST_DEVICE void operator()(int64_t i) const { y[i] = static_cast<To>(static_cast<double>(x[i])); }
};

}  // namespace xdnn::cuda
