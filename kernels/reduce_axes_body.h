// Kernel bodies of kernels/reduce_axes.cu (CPU twins: engine/cpu/reduce_axes.cpp): reductions over axes with
// their arg, one thread per group walking its elements in ascending flat index as the CPU does; their
// backward pass, one thread per input element (Prod re-walks the element's group in the same order, so the
// zero count and the product of the non-zero elements are the CPU's); and the first non-finite element, a
// min-reduction of indices over the fixed grid of kernels/reduce_body.h.
#pragma once
#include <vector>

#include "engine/ops_onnx.h"
#include "kernels/common_body.h"
#include "kernels/reduce_body.h"

namespace xdnn::cuda {

// x (x_dims) reduced over the axes where kept_dims is 1 (and x's is not): group k (row-major over kept_dims)
// starts at base(k) and holds base(k) + Σ_r coord_r · red_strides[r] over the reduced axes, row-major.
struct ReduceAxesMap {
  int ndim = 0, nred = 0;
  int64_t x_dims[kMaxDims] = {}, x_strides[kMaxDims] = {}, kept_dims[kMaxDims] = {};
  int64_t red_dims[kMaxDims] = {}, red_strides[kMaxDims] = {};
  int64_t group_size = 1;
};

inline ReduceAxesMap reduce_axes_map(const Shape& xs, const Shape& kept) {
  ReduceAxesMap m;
  m.ndim = static_cast<int>(xs.size());
  int64_t stride = 1;
  for (int d = m.ndim - 1; d >= 0; --d)
    m.x_dims[d] = xs[d], m.kept_dims[d] = kept[d], m.x_strides[d] = stride, stride *= xs[d];
  for (int d = 0; d < m.ndim; ++d)
    if (kept[d] == 1 && xs[d] != 1)
      m.red_dims[m.nred] = xs[d], m.red_strides[m.nred] = m.x_strides[d], m.group_size *= xs[d], ++m.nred;
  return m;
}

XDNN_HOST_DEVICE inline int64_t group_base(int64_t k, const ReduceAxesMap& m) {
  int64_t off = 0;
  for (int d = m.ndim - 1; d >= 0; --d) {
    off += (k % m.kept_dims[d]) * m.x_strides[d];
    k /= m.kept_dims[d];
  }
  return off;
}
XDNN_HOST_DEVICE inline int64_t group_offset(int64_t r, const ReduceAxesMap& m) {
  int64_t off = 0;
  for (int d = m.nred - 1; d >= 0; --d) {
    off += (r % m.red_dims[d]) * m.red_strides[d];
    r /= m.red_dims[d];
  }
  return off;
}

template <class T>
XDNN_HOST_DEVICE inline bool knan(T v) {
  return v != v;  // false for int64
}

template <class T>
struct ReduceAxesBody {
  ops::ReduceOp op;
  const T* x;
  T* y;
  int64_t* arg;
  ReduceAxesMap m;
  XDNN_HOST_DEVICE void operator()(int64_t k) const {
    const int64_t base = group_base(k, m);
    T acc = x[base];
    int64_t at = base;
    for (int64_t r = 1; r < m.group_size; ++r) {
      const int64_t i = base + group_offset(r, m);
      const T v = x[i];
      if (op == ops::ReduceOp::Sum) {
        acc += v;
      } else if (op == ops::ReduceOp::Prod) {
        acc *= v;
      } else if (op == ops::ReduceOp::Max) {  // NaN wins, as the CPU's
        if (v > acc || (knan(v) && !knan(acc))) acc = v, at = i;
      } else if (v < acc || (knan(v) && !knan(acc))) {
        acc = v, at = i;
      }
    }
    y[k] = acc;
    arg[k] = at;
  }
};

template <class T>
struct ReduceAxesBackwardBody {
  ops::ReduceOp op;
  const T* x;
  const T* gy;
  const int64_t* arg;
  T* gx;
  ReduceAxesMap m;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    // Group k of element i and the group's first element: i's coordinates on the kept axes.
    int64_t rem = i, k = 0, kstride = 1, base = 0;
    for (int d = m.ndim - 1; d >= 0; --d) {
      const int64_t c = rem % m.x_dims[d];
      rem /= m.x_dims[d];
      if (m.kept_dims[d] != 1) k += c * kstride, base += c * m.x_strides[d];
      kstride *= m.kept_dims[d];
    }
    if (op == ops::ReduceOp::Sum) {
      gx[i] = gy[k];
      return;
    }
    if (op != ops::ReduceOp::Prod) {
      gx[i] = arg[k] == i ? gy[k] : T(0);
      return;
    }
    int64_t zeros = 0;
    double nonzero_prod = 1.0;
    for (int64_t r = 0; r < m.group_size; ++r) {
      const double v = static_cast<double>(x[base + group_offset(r, m)]);
      if (v == 0)
        ++zeros;
      else
        nonzero_prod *= v;
    }
    const double v = static_cast<double>(x[i]);
    double others = 0;
    if (zeros == 0)
      others = nonzero_prod / v;
    else if (zeros == 1 && v == 0)
      others = nonzero_prod;
    gx[i] = static_cast<T>(static_cast<double>(gy[k]) * others);
  }
};

// ---- first index where a test holds: thread t's smallest i ≡ t (mod threads) for which it holds, or n; then the
// pairwise min tree of kernels/reduce_body.h over the fixed grid (kernels/index_check.h launches it).
// The first NaN or ±∞ element: |x[i]| > largest (false for NaN too, hence the negation).
template <class T>
struct FirstNonfiniteBody {
  const T* x;
  int64_t n;
  int64_t threads;
  T largest;  // the dtype's largest finite value
  XDNN_HOST_DEVICE int64_t operator()(int64_t t) const {
    for (int64_t i = t; i < n; i += threads)
      if (!(kabs(x[i]) <= largest)) return i;
    return n;
  }
};

// The first index (ids, labels) outside [lo, hi): checked on the device, so only that position comes back.
struct FirstOutsideBody {
  const int64_t* ids;
  int64_t n;
  int64_t threads;
  int64_t lo, hi;
  XDNN_HOST_DEVICE int64_t operator()(int64_t t) const {
    for (int64_t i = t; i < n; i += threads)
      if (ids[i] < lo || ids[i] >= hi) return i;
    return n;
  }
};

XDNN_HOST_DEVICE inline void min_tree_step(int64_t* v, int tid, int stride) {
  if (tid < stride && v[tid + stride] < v[tid]) v[tid] = v[tid + stride];
}

// The whole two-pass reduction on the host, in the device's order (tests): the first index, or −1.
template <class Body>
int64_t first_index_on_host(const Body& body) {
  std::vector<int64_t> partials(kReduceBlocks), v(kReduceThreads);
  for (int blk = 0; blk < kReduceBlocks; ++blk) {
    for (int tid = 0; tid < kReduceThreads; ++tid) v[tid] = body(static_cast<int64_t>(blk) * kReduceThreads + tid);
    for (int stride = kReduceThreads / 2; stride > 0; stride /= 2)
      for (int tid = 0; tid < kReduceThreads; ++tid) min_tree_step(v.data(), tid, stride);
    partials[blk] = v[0];
  }
  for (int tid = 0; tid < kReduceThreads; ++tid) v[tid] = tid < kReduceBlocks ? partials[tid] : body.n;
  for (int stride = kReduceThreads / 2; stride > 0; stride /= 2)
    for (int tid = 0; tid < kReduceThreads; ++tid) min_tree_step(v.data(), tid, stride);
  return v[0] == body.n ? -1 : v[0];
}

}  // namespace xdnn::cuda
