// Kernel bodies of kernels/resize.cu (CPU twin: engine/cpu/resize.cpp): y = M x, one thread per output
// element summing its 2^n tap combinations in the CPU's order; gx = Mᵀ gy, one thread per input element
// gathering over the per-axis preimage lists (ops::resize_preimages) in the CPU's odometer order. The taps
// and lists are packed on the host into one int64 and one double array (resize_pack_*), copied once a call.
#pragma once
#include <vector>

#include "engine/ops_onnx.h"
#include "kernels/common_body.h"

namespace xdnn::cuda {

struct ResizeMap {
  int ndim = 0;
  int64_t x_dims[kMaxDims] = {}, y_dims[kMaxDims] = {}, x_strides[kMaxDims] = {}, y_strides[kMaxDims] = {};
  // forward: axis a's i0 at ints[base[a] ..], i1 at ints[base[a] + y_dims[a] ..], w0 / w1 likewise in doubles;
  // backward: axis a's CSR offsets at ints[base[a] ..] (x_dims[a] + 1 of them), relative to its entries at
  // ints[entry_base[a] ..] (output indices) and doubles[weight_base[a] ..] (weights).
  int64_t base[kMaxDims] = {}, entry_base[kMaxDims] = {}, weight_base[kMaxDims] = {};
};

inline ResizeMap resize_dims(const Shape& x_shape, const Shape& y_shape) {
  ResizeMap m;
  m.ndim = static_cast<int>(x_shape.size());
  int64_t xs = 1, ys = 1;
  for (int a = m.ndim - 1; a >= 0; --a) {
    m.x_dims[a] = x_shape[a], m.y_dims[a] = y_shape[a], m.x_strides[a] = xs, m.y_strides[a] = ys;
    xs *= x_shape[a], ys *= y_shape[a];
  }
  return m;
}

// The forward pass's taps, packed.
inline ResizeMap resize_pack_taps(const ops::ResizeTaps& taps, const Shape& x_shape, std::vector<int64_t>& ints,
                                  std::vector<double>& doubles) {
  ResizeMap m = resize_dims(x_shape, ops::resize_output_shape(taps));
  for (int a = 0; a < m.ndim; ++a) {
    m.base[a] = static_cast<int64_t>(ints.size());
    ints.insert(ints.end(), taps[a].i0.begin(), taps[a].i0.end());
    ints.insert(ints.end(), taps[a].i1.begin(), taps[a].i1.end());
    doubles.insert(doubles.end(), taps[a].w0.begin(), taps[a].w0.end());
    doubles.insert(doubles.end(), taps[a].w1.begin(), taps[a].w1.end());
  }
  return m;
}

// The backward pass's preimage lists, packed.
inline ResizeMap resize_pack_preimages(const ops::ResizeTaps& taps, const Shape& x_shape, std::vector<int64_t>& ints,
                                       std::vector<double>& doubles) {
  ResizeMap m = resize_dims(x_shape, ops::resize_output_shape(taps));
  const ops::ResizePreimages p = ops::resize_preimages(taps, x_shape);
  for (int a = 0; a < m.ndim; ++a) {
    m.base[a] = static_cast<int64_t>(ints.size());
    ints.insert(ints.end(), p.offset[a].begin(), p.offset[a].end());
  }
  for (int a = 0; a < m.ndim; ++a) {
    m.entry_base[a] = static_cast<int64_t>(ints.size());
    m.weight_base[a] = static_cast<int64_t>(doubles.size());
    ints.insert(ints.end(), p.index[a].begin(), p.index[a].end());
    doubles.insert(doubles.end(), p.weight[a].begin(), p.weight[a].end());
  }
  return m;
}

template <class T>
struct ResizeBody {
  const T* x;
  T* y;
  const int64_t* ints;
  const double* doubles;
  ResizeMap m;
  XDNN_HOST_DEVICE void operator()(int64_t k) const {
    int64_t coord[kMaxDims] = {};
    int64_t rem = k;
    for (int a = m.ndim - 1; a >= 0; --a) coord[a] = rem % m.y_dims[a], rem /= m.y_dims[a];
    double acc = 0;
    for (int combo = 0; combo < (1 << m.ndim); ++combo) {
      double w = 1;
      int64_t off = 0;
      for (int a = 0; a < m.ndim && w != 0; ++a) {
        const int64_t t = m.base[a] + ((combo >> a) & 1) * m.y_dims[a] + coord[a];
        w = kmul_rn(w, doubles[t]);
        off += ints[t] * m.x_strides[a];
      }
      if (w != 0) acc += kmul_rn(w, static_cast<double>(x[off]));
    }
    y[k] = static_cast<T>(acc);
  }
};

template <class T>
struct ResizeBackwardBody {
  const T* gy;
  T* gx;
  const int64_t* ints;
  const double* doubles;
  ResizeMap m;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    int64_t begin[kMaxDims] = {}, end[kMaxDims] = {}, at[kMaxDims] = {};
    int64_t rem = i;
    bool empty = false;
    for (int a = m.ndim - 1; a >= 0; --a) {
      const int64_t c = rem % m.x_dims[a];
      rem /= m.x_dims[a];
      begin[a] = ints[m.base[a] + c], end[a] = ints[m.base[a] + c + 1], at[a] = begin[a];
      empty = empty || begin[a] == end[a];
    }
    double acc = 0;
    while (!empty) {  // odometer over the lists, axis 0 outermost
      double w = 1;
      int64_t k = 0;
      for (int a = 0; a < m.ndim; ++a)
        w *= doubles[m.weight_base[a] + at[a]], k += ints[m.entry_base[a] + at[a]] * m.y_strides[a];
      acc += kmul_rn(w, static_cast<double>(gy[k]));
      int a = m.ndim - 1;
      for (; a >= 0; --a) {
        if (++at[a] < end[a]) break;
        at[a] = begin[a];
      }
      if (a < 0) break;
    }
    gx[i] = static_cast<T>(acc);
  }
};

}  // namespace xdnn::cuda
