// Kernel bodies of data movement (kernels/data_movement.cu, kernels/sequence.cu): permutations, strided
// slices, broadcasting, where, concatenation, padding, gathers and their backward passes. Elements move
// as 4- or 8-byte words E (uint32_t / uint64_t), so one instantiation serves float32, float64 and int64.
//
// Backward passes that add (pad with reflect/edge, gather, embedding scatter-add) are gathers over
// preimage lists built on the host (CSR: for each input coordinate, the output coordinates that read it,
// increasing). Each input element is one thread's sum in the order in which the CPU ops scatter, so
// there are no atomics and the same bits on every run.
#pragma once
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "kernels/common_body.h"

namespace xdnn::cuda {

// y[i] = x[base + Σ coord·stride]: permute, transpose, strided slice, broadcast_to, last-axis slice.
template <class E>
struct StridedCopyBody {
  const E* x;
  E* y;
  StridedMap m;
  XDNN_HOST_DEVICE void operator()(int64_t i) const { y[i] = x[strided_offset(i, m)]; }
};

// ---- strided slice backward: a gather over x's elements ---------------------------------------------------
struct SliceBackMap {
  int ndim = 0;
  int64_t x_dims[kMaxDims] = {};
  int64_t out_dims[kMaxDims] = {};
  int64_t start[kMaxDims] = {};
  int64_t step[kMaxDims] = {};
};

// Flat index in gy of the sliced position that reads x element `flat`, or −1 (a non-zero step visits a
// position at most once, so the backward pass is a copy, as in the CPU op).
XDNN_HOST_DEVICE inline int64_t slice_backward_source(int64_t flat, const SliceBackMap& m) {
  int64_t src = 0, mul = 1;
  for (int d = m.ndim - 1; d >= 0; --d) {
    const int64_t t = flat % m.x_dims[d] - m.start[d];
    flat /= m.x_dims[d];
    if (t % m.step[d] != 0 || t / m.step[d] < 0 || t / m.step[d] >= m.out_dims[d]) return -1;
    src += (t / m.step[d]) * mul;
    mul *= m.out_dims[d];
  }
  return src;
}

template <class E>
struct SliceBackwardBody {
  const E* gy;
  E* gx;
  SliceBackMap m;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    const int64_t s = slice_backward_source(i, m);
    gx[i] = s < 0 ? E(0) : gy[s];  // all-zero bits are 0.0 in both float types
  }
};

// ---- concat: input viewed as (outer, len), output rows of `row` words; this input at column `at` ----------
template <class E>
struct ConcatCopyBody {
  const E* x;
  E* y;
  int64_t len, row, at;
  XDNN_HOST_DEVICE void operator()(int64_t i) const { y[(i / len) * row + at + i % len] = x[i]; }
};

// ---- where: cond first turned into a 0/1 byte mask (cond may be int64 or float) -------------------------
template <class C>
struct NonzeroBody {
  const C* cond;
  uint8_t* mask;
  XDNN_HOST_DEVICE void operator()(int64_t i) const { mask[i] = cond[i] != C(0) ? 1 : 0; }
};

template <class E>
struct WhereBody {
  const uint8_t* mask;
  const E *x, *y;
  E* out;
  StridedMap mc, mx, my;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    out[i] = mask[strided_offset(i, mc)] ? x[strided_offset(i, mx)] : y[strided_offset(i, my)];
  }
};

// ---- pad --------------------------------------------------------------------------------------------------
enum class PadKind : int { Constant, Reflect, Edge };

struct PadMap {
  int ndim = 0;
  int64_t in_dims[kMaxDims] = {};
  int64_t out_dims[kMaxDims] = {};
  int64_t pad_begin[kMaxDims] = {};
  PadKind mode = PadKind::Constant;
};

// Offset in x read by output element `flat`, or −1 for the constant fill. Reflect mirrors without
// repeating the edge (pads smaller than the axis, checked on the host); Edge repeats the edge.
XDNN_HOST_DEVICE inline int64_t pad_source(int64_t flat, const PadMap& m) {
  int64_t off = 0, mul = 1;
  bool fill = false;
  for (int d = m.ndim - 1; d >= 0; --d) {
    const int64_t n = m.in_dims[d];
    int64_t i = flat % m.out_dims[d] - m.pad_begin[d];
    flat /= m.out_dims[d];
    if (i < 0 || i >= n) {
      if (m.mode == PadKind::Constant)
        fill = true;
      else if (m.mode == PadKind::Edge)
        i = i < 0 ? 0 : n - 1;
      else
        i = i < 0 ? -i : 2 * (n - 1) - i;
    }
    off += i * mul;
    mul *= n;
  }
  return fill ? -1 : off;
}

template <class E>
struct PadBody {
  const E* x;
  E* y;
  E fill;  // the constant's bit pattern in the tensor's dtype
  PadMap m;
  XDNN_HOST_DEVICE void operator()(int64_t i) const {
    const int64_t s = pad_source(i, m);
    y[i] = s < 0 ? fill : x[s];
  }
};

// Pad backward. csr holds, per axis d, offsets (in_dims[d] + 1 of them) at off_base[d] and the output
// coordinates at list_base[d] (increasing for each input coordinate).
struct PadBackMap {
  int ndim = 0;
  int64_t in_dims[kMaxDims] = {};
  int64_t out_dims[kMaxDims] = {};
  int64_t off_base[kMaxDims] = {};
  int64_t list_base[kMaxDims] = {};
};

// gx at flat = Σ of gy over the padded positions that read it, in row-major output order (the cartesian
// product of the sorted per-axis lists, last axis fastest).
template <class T>
struct PadBackwardBody {
  const T* gy;
  const int64_t* csr;
  T* gx;
  PadBackMap m;
  XDNN_HOST_DEVICE void operator()(int64_t flat) const {
    int64_t lo[kMaxDims], hi[kMaxDims], pos[kMaxDims];
    int64_t rest = flat;
    for (int d = m.ndim - 1; d >= 0; --d) {
      const int64_t i = rest % m.in_dims[d];
      rest /= m.in_dims[d];
      lo[d] = pos[d] = csr[m.off_base[d] + i];
      hi[d] = csr[m.off_base[d] + i + 1];
      if (lo[d] == hi[d]) {
        gx[flat] = T(0);
        return;
      }
    }
    T s = T(0);
    for (;;) {
      int64_t o = 0;
      for (int d = 0; d < m.ndim; ++d) o = o * m.out_dims[d] + csr[m.list_base[d] + pos[d]];
      s += gy[o];
      int d = m.ndim - 1;
      for (; d >= 0; --d) {
        if (++pos[d] < hi[d]) break;
        pos[d] = lo[d];
      }
      if (d < 0) break;
    }
    gx[flat] = s;
  }
};

// ---- gather along an axis (ONNX Gather; embedding rows with outer = 1) -----------------------------------
// data (outer, A, inner), indices K values already checked to lie in [−A, A), y (outer, K, inner).
template <class E>
struct GatherBody {
  const E* data;
  const int64_t* indices;
  E* y;
  int64_t A, K, inner;
  XDNN_HOST_DEVICE void operator()(int64_t idx) const {
    const int64_t j = idx % inner, k = (idx / inner) % K, o = idx / (inner * K);
    const int64_t i = indices[k] < 0 ? indices[k] + A : indices[k];
    y[idx] = data[(o * A + i) * inner + j];
  }
};

// Gather backward / scatter-add: gx (outer, A, inner) at idx = Σ over k with index(k) = i, in increasing k,
// of gy[o, k, j]. offsets (A + 1) and ks (K) are the inverse index in CSR form.
template <class T>
struct GatherBackwardBody {
  const T* gy;
  const int64_t *offsets, *ks;
  T* gx;
  int64_t A, K, inner;
  XDNN_HOST_DEVICE void operator()(int64_t idx) const {
    const int64_t j = idx % inner, i = (idx / inner) % A, o = idx / (inner * A);
    T s = T(0);
    for (int64_t t = offsets[i]; t < offsets[i + 1]; ++t) s += gy[(o * K + ks[t]) * inner + j];
    gx[idx] = s;
  }
};

// ---- host-side builders of the maps above (shape logic only; shared by the .cu files and the tests) ----

inline void check_rank_fits(size_t n, const char* what) {
  if (n > static_cast<size_t>(kMaxDims))
    throw Error(std::string(what) + ": the CUDA kernels take at most " + std::to_string(kMaxDims) + " axes, got " +
                std::to_string(n));
}

// y = x read at base + Σ coord[i]·stride[i] for an output of shape out.
inline StridedMap strided_map(const Shape& out, const std::vector<int64_t>& stride, int64_t base, const char* what) {
  check_rank_fits(out.size(), what);
  StridedMap m;
  m.ndim = static_cast<int>(out.size());
  for (size_t i = 0; i < out.size() && i < kMaxDims; ++i) m.dims[i] = out[i], m.stride[i] = stride[i];
  m.base = base;
  return m;
}

// Reading a tensor of shape `src` broadcast (NumPy rules, src right-aligned) to `out`.
inline StridedMap broadcast_map(const Shape& src, const Shape& out, const char* what) {
  std::vector<int64_t> stride(out.size(), 0);
  int64_t acc = 1;
  for (size_t k = src.size(); k-- > 0;) {
    stride[out.size() - src.size() + k] = src[k] == 1 ? 0 : acc;
    acc *= src[k];
  }
  return strided_map(out, stride, 0, what);
}

// Strided slice y[i] = x[start + i ⊙ step] of x (x_shape) to out_shape.
inline StridedMap slice_map(const Shape& x_shape, const std::vector<int64_t>& starts, const std::vector<int64_t>& steps,
                            const Shape& out_shape, const char* what) {
  std::vector<int64_t> stride(starts.size());
  int64_t base = 0, acc = 1;
  for (size_t d = starts.size(); d-- > 0;) {
    base += starts[d] * acc;
    stride[d] = steps[d] * acc;
    acc *= x_shape[d];
  }
  return strided_map(out_shape, stride, base, what);
}

inline SliceBackMap slice_back_map(const Shape& x_shape, const std::vector<int64_t>& starts,
                                   const std::vector<int64_t>& steps, const Shape& out_shape, const char* what) {
  check_rank_fits(x_shape.size(), what);
  if (starts.size() != x_shape.size() || steps.size() != x_shape.size() || out_shape.size() != x_shape.size())
    throw Error(std::string(what) + ": expected " + std::to_string(x_shape.size()) + " per-axis values for input " +
                shape_str(x_shape));
  SliceBackMap m;
  m.ndim = static_cast<int>(x_shape.size());
  for (size_t d = 0; d < x_shape.size() && d < kMaxDims; ++d) {
    if (steps[d] == 0) throw Error(std::string(what) + ": step 0 on axis " + std::to_string(d));
    m.x_dims[d] = x_shape[d], m.out_dims[d] = out_shape[d], m.start[d] = starts[d], m.step[d] = steps[d];
  }
  return m;
}

// Per axis, the input coordinate each output coordinate reads (−1: the constant fill); the checks and
// messages of engine/cpu/data_movement.cpp.
inline std::vector<std::vector<int64_t>> pad_coordinate_maps(const Shape& x_shape, const std::vector<int64_t>& pb,
                                                             const std::vector<int64_t>& pe, PadKind mode) {
  std::vector<std::vector<int64_t>> maps(x_shape.size());
  for (size_t d = 0; d < x_shape.size(); ++d) {
    const int64_t n = x_shape[d], out = n + pb[d] + pe[d];
    if (out < 0) throw Error("pad: cropping more than axis " + std::to_string(d) + " holds");
    if (mode == PadKind::Reflect && (pb[d] >= n || pe[d] >= n) && (pb[d] > 0 || pe[d] > 0))
      throw Error("pad: reflect padding " + std::to_string(pb[d] > pe[d] ? pb[d] : pe[d]) +
                  " must be smaller than axis " + std::to_string(d) + " of size " + std::to_string(n));
    if (mode == PadKind::Edge && n == 0 && out > 0) throw Error("pad: edge padding of an empty axis");
    for (int64_t o = 0; o < out; ++o) {
      PadMap one;
      one.ndim = 1, one.in_dims[0] = n, one.out_dims[0] = out, one.pad_begin[0] = pb[d], one.mode = mode;
      maps[d].push_back(pad_source(o, one));
    }
  }
  return maps;
}

inline PadMap pad_map(const Shape& x_shape, const std::vector<int64_t>& pb, const std::vector<int64_t>& pe,
                      PadKind mode) {
  check_rank_fits(x_shape.size(), "pad");
  if (pb.size() != x_shape.size() || pe.size() != x_shape.size())
    throw Error("pad: expected " + std::to_string(x_shape.size()) + " per-axis values for input " + shape_str(x_shape));
  pad_coordinate_maps(x_shape, pb, pe, mode);  // the checks
  PadMap m;
  m.ndim = static_cast<int>(x_shape.size());
  m.mode = mode;
  for (size_t d = 0; d < x_shape.size() && d < kMaxDims; ++d)
    m.in_dims[d] = x_shape[d], m.out_dims[d] = x_shape[d] + pb[d] + pe[d], m.pad_begin[d] = pb[d];
  return m;
}

// The CSR preimage lists of the pad backward pass (layout in PadBackMap); fills m.
inline std::vector<int64_t> pad_backward_csr(const Shape& x_shape, const std::vector<int64_t>& pb,
                                             const std::vector<int64_t>& pe, PadKind mode, PadBackMap& m) {
  const PadMap fm = pad_map(x_shape, pb, pe, mode);
  const auto maps = pad_coordinate_maps(x_shape, pb, pe, mode);
  std::vector<int64_t> csr;
  m = PadBackMap{};
  m.ndim = fm.ndim;
  for (int d = 0; d < fm.ndim; ++d) {
    const int64_t n = x_shape[d];
    m.in_dims[d] = n, m.out_dims[d] = fm.out_dims[d];
    std::vector<int64_t> count(n + 1, 0);
    for (int64_t i : maps[d])
      if (i >= 0) ++count[i + 1];
    for (int64_t i = 0; i < n; ++i) count[i + 1] += count[i];
    m.off_base[d] = static_cast<int64_t>(csr.size());
    csr.insert(csr.end(), count.begin(), count.end());
    m.list_base[d] = static_cast<int64_t>(csr.size());
    std::vector<int64_t> list(count[n]), fill = count;
    for (int64_t o = 0; o < static_cast<int64_t>(maps[d].size()); ++o)  // increasing o per input coordinate
      if (maps[d][o] >= 0) list[fill[maps[d][o]]++] = o;
    csr.insert(csr.end(), list.begin(), list.end());
  }
  if (csr.empty()) csr.push_back(0);  // never read; keeps the device copy non-empty
  return csr;
}

// Inverse of an index list (K values in [−A, A)): offsets (A + 1) then ks (K), the k with index i listed
// in increasing order at [offsets[i], offsets[i + 1]).
inline std::vector<int64_t> inverse_index_csr(const int64_t* indices, int64_t K, int64_t A) {
  std::vector<int64_t> csr(A + 1 + K, 0);
  int64_t* off = csr.data();
  int64_t* ks = csr.data() + A + 1;
  for (int64_t k = 0; k < K; ++k) ++off[(indices[k] < 0 ? indices[k] + A : indices[k]) + 1];
  for (int64_t i = 0; i < A; ++i) off[i + 1] += off[i];
  std::vector<int64_t> fill(off, off + A);
  for (int64_t k = 0; k < K; ++k) ks[fill[indices[k] < 0 ? indices[k] + A : indices[k]]++] = k;
  return csr;
}

// fn(word) with a value of the 4- or 8-byte word type that moves elements of dtype dt.
template <class Fn>
decltype(auto) dispatch_word(DType dt, Fn&& fn) {
  if (dtype_size(dt) == 4) return fn(uint32_t(0));
  return fn(uint64_t(0));
}

// Launchers shared by kernels/data_movement.cu and kernels/sequence.cu (defined in data_movement.cu; CUDA
// builds only): y (out_shape) = x read through m; and the scatter-add of gy (outer, K, inner) into
// out_shape = (outer, A, inner) through host_indices (a CPU int64 tensor of K values in [−A, A)).
Tensor strided_copy(const Tensor& x, const StridedMap& m, const Shape& out_shape, const char* what);
Tensor gather_scatter_add(const Tensor& gy, const Tensor& host_indices, int64_t A, int64_t inner,
                          const Shape& out_shape, const char* what);

}  // namespace xdnn::cuda
