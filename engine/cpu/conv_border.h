// A convolution's GEMM without the taps that fall in the zero padding, for small output planes
// (engine/cpu/conv.cpp's forward and conv_flipped.h's input gradient). Included by conv.cpp only, after
// im2col.h and conv_chunks.h (anonymous namespace, like them).
//
// Why: the im2col GEMM multiplies every tap of every output position, padding included. On a 2x2 output
// plane with a 3x3 kernel and padding 1 (ResNet-18's layer4 at 64x64 input) each position has 4 taps
// inside the input and 5 on the zero border: 5/9 of the products are 0 · w. On 4x4 (layer3) it is 44/144.
//
// How: output positions fall into border classes by which kernel rows [ia, ib) and columns [ja, jb) land
// inside the input (top-left corner, top edge, ..., interior: at most 3 x 3 classes for a 3x3 kernel with
// padding 1). Each class is one GEMM over its own taps only, K_q = C·(ib − ia)·(jb − ja):
//   Z[:, class q's columns] (O, N_q) = A (O, K_q; the weight columns of those taps, read through an offset
//                                        table) · B_q (K_q, N_q; the taps' input values, gathered)
// and Z, whose columns are grouped by class, is then put back in (s, oh, ow) order.
//
// Same bits as the full GEMM: a skipped term is w · (+0), which adds nothing to a sum that starts from +0
// (+0 + ±0 = +0, and a nonzero sum is unchanged), and the class GEMM keeps the full product's k order and
// its k-blocks (gemm.h: BPacker::k_block_ends ends a block where the full product's would end), so every
// element is the same sums, added in the same order. The one exception is a non-finite weight, whose
// product with a padding zero is NaN in the full GEMM and skipped here (as oneDNN and cuDNN skip padding).
// So the route may depend on the batch (it pays only with enough columns per class) and identical
// receptive fields still give identical bits (tests/test_conv_border.cpp).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "engine/cpu/conv_chunks.h"
#include "engine/cpu/gemm.h"
#include "engine/cpu/im2col.h"
#include "engine/parallel.h"

namespace xdnn::ops {
namespace {

// For each output row (or column) o of `n`, the kernel taps [lo, hi) that land inside an input of `size`:
// input index o·stride − pad + t·dilation in [0, size).
struct TapRange {
  int64_t lo, hi;
  bool operator==(const TapRange&) const = default;
};

inline TapRange taps_inside(int64_t o, int64_t stride, int64_t pad, int64_t dilation, int64_t taps, int64_t size) {
  TapRange r{taps, taps};
  for (int64_t t = 0; t < taps; ++t) {
    const int64_t at = o * stride - pad + t * dilation;
    if (at >= 0 && at < size) {
      r.lo = std::min(r.lo, t);
      r.hi = t + 1;
    }
  }
  return r.lo < r.hi ? r : TapRange{0, 0};
}

// The classes of one axis: class of each output row (or column), and each class's tap range.
struct AxisClasses {
  std::vector<TapRange> ranges;
  std::vector<int64_t> of;  // output index -> class
};

inline AxisClasses axis_classes(int64_t n, int64_t stride, int64_t pad, int64_t dilation, int64_t taps, int64_t size) {
  AxisClasses a;
  for (int64_t o = 0; o < n; ++o) {
    const TapRange r = taps_inside(o, stride, pad, dilation, taps, size);
    const auto it = std::find(a.ranges.begin(), a.ranges.end(), r);
    a.of.push_back(it - a.ranges.begin());
    if (it == a.ranges.end()) a.ranges.push_back(r);
  }
  return a;
}

// B of one class: column j is position colpos[j] of the padded input (PackedColumns' row table plus the
// output column), row k is tap tap[k]; gathered one value at a time (runs are 1 to 4 values long here).
template <class T>
struct ClassColumns {
  const T* xp;
  const int64_t* tap;
  const int64_t* colpos;  // this class's columns

  static void fill(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t ncols, int64_t nr, T* dst) {
    const ClassColumns& p = *static_cast<const ClassColumns*>(ctx);
    const int64_t* cp = p.colpos + j0;
    for (int64_t kk = 0; kk < kc; ++kk) {
      const T* base = p.xp + p.tap[k0 + kk];
      T* out = dst + kk * nr;
      for (int64_t c = 0; c < ncols; ++c) out[c] = base[cp[c]];
      for (int64_t c = ncols; c < nr; ++c) out[c] = T(0);
    }
  }
};

// The border classes of a convolution (dimensions d, geometry g): rows x columns, class q = (q / cols,
// q % cols), and how many output positions of one sample each holds.
struct BorderClasses {
  AxisClasses rows, cols;
  std::vector<int64_t> count;
  int64_t size() const { return static_cast<int64_t>(count.size()); }
  TapRange row_taps(int64_t q) const { return rows.ranges[q / cols.ranges.size()]; }
  TapRange col_taps(int64_t q) const { return cols.ranges[q % cols.ranges.size()]; }
};

inline BorderClasses border_classes(const Dims& d, const Conv2dGeometry& g) {
  BorderClasses b{axis_classes(d.OH, g.stride_h, g.pad_top, g.dilation_h, d.KH, d.H),
                  axis_classes(d.OW, g.stride_w, g.pad_left, g.dilation_w, d.KW, d.W),
                  {}};
  const int64_t ncc = static_cast<int64_t>(b.cols.ranges.size());
  b.count.assign(b.rows.ranges.size() * b.cols.ranges.size(), 0);
  for (int64_t oh = 0; oh < d.OH; ++oh)
    for (int64_t ow = 0; ow < d.OW; ++ow) ++b.count[static_cast<size_t>(b.rows.of[oh] * ncc + b.cols.of[ow])];
  return b;
}

// Whether the class GEMMs of S samples save at least a fifth of the full GEMM's multiply-adds, each
// product's columns padded to whole panels (a class of a few columns pads to one panel, so at batch 1 on
// a small plane the full product is cheaper). Groups = 1 and the packed-columns route only.
template <class T>
bool border_classes_pay(const Dims& d, int64_t S, const BorderClasses& b) {
  if (d.G != 1 || !packed_columns_apply<T>(d, S * d.P) || d.KH * d.KW == 1 || b.size() == 1) return false;
  const int64_t nr = cpu::gemm_panel_width<T>();
  const auto padded = [nr](int64_t n) { return (n + nr - 1) / nr * nr; };
  int64_t split = 0;
  for (int64_t q = 0; q < b.size(); ++q) {
    const TapRange r = b.row_taps(q), c = b.col_taps(q);
    split += padded(S * b.count[q]) * d.C * (r.hi - r.lo) * (c.hi - c.lo);
  }
  return 5 * split <= 4 * padded(S * d.P) * d.K;
}

// The forward convolution of samples [n0, n0 + S) of x (dimensions d, geometry g) as the full GEMM
// yc (d.O, S·P) = A · col would compute it, A's element (o, k) at A[o·lda + (a_off ? a_off[k] : k)],
// k = (c, i, j), by border class, when border_classes_pay; else returns false and does nothing.
template <class T>
bool border_class_gemm(const T* x, const Dims& d, const Conv2dGeometry& g, int64_t n0, int64_t S, bool parallel,
                       const T* A, int64_t lda, const int64_t* a_off, T* yc) {
  if (d.G != 1 || d.KH * d.KW == 1) return false;
  const BorderClasses bc = border_classes(d, g);
  if (!border_classes_pay<T>(d, S, bc)) return false;
  const int64_t L = S * d.P, ncc = static_cast<int64_t>(bc.cols.ranges.size());
  thread_local std::vector<T> padbuf, zbuf;
  thread_local std::vector<int64_t> tables, classbuf;
  const PackedColumns<T> full = packed_columns(x, d, g, n0, S, padbuf, tables);
  T* z = scratch(zbuf, static_cast<size_t>(d.O * L));  // (O, L), columns grouped by class
  int64_t* colpos = scratch(classbuf, static_cast<size_t>(2 * L + 3 * d.K));
  int64_t* dest = colpos + L;       // (L): Z's column j is yc's column dest[j]
  int64_t* tap = dest + L;          // (K_q): the class's taps, in the full product's k order
  int64_t* aoff = tap + d.K;        // (K_q): their columns of A
  int64_t* block_end = aoff + d.K;  // where the class's k-blocks end: where the full product's do
  for (int64_t q = 0, j0 = 0; q < bc.size(); ++q) {
    const int64_t rq = q / ncc, cq = q % ncc;
    const TapRange rr = bc.row_taps(q), cr = bc.col_taps(q);
    int64_t nq = 0;
    for (int64_t s = 0; s < S; ++s)
      for (int64_t oh = 0; oh < d.OH; ++oh)
        for (int64_t ow = 0; bc.rows.of[oh] == rq && ow < d.OW; ++ow)
          if (bc.cols.of[ow] == cq) {
            colpos[j0 + nq] = full.row[s * d.OH + oh] + ow;
            dest[j0 + nq++] = s * d.P + oh * d.OW + ow;
          }
    if (nq == 0) continue;
    int64_t kq = 0, blocks = 0, prev_k = 0;
    for (int64_t c = 0; c < d.C; ++c)
      for (int64_t i = rr.lo; i < rr.hi; ++i)
        for (int64_t j = cr.lo; j < cr.hi; ++j) {
          const int64_t k = (c * d.KH + i) * d.KW + j;
          if (kq > 0 && k / cpu::kGemmBlockK != prev_k / cpu::kGemmBlockK) block_end[blocks++] = kq;
          tap[kq] = full.tap[k];
          aoff[kq++] = a_off ? a_off[k] : k;
          prev_k = k;
        }
    block_end[blocks] = kq;
    const ClassColumns<T> b{full.xp, tap, colpos + j0};
    const cpu::BPacker<T> packer{&ClassColumns<T>::fill, &b, nullptr, nullptr, block_end};
    cpu::gemm_packed_b<T>(parallel, d.O, nq, kq, A, lda, packer, z + j0, L, aoff);
    j0 += nq;
  }
  // Z's class-grouped columns back to (s, oh, ow) order, over the threads when the GEMMs were.
  const auto unpermute = [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      for (int64_t j = 0; j < L; ++j) yc[o * L + dest[j]] = z[o * L + j];
  };
  if (parallel)
    parallel_for(d.O, grain_for_work(L), unpermute);
  else
    unpermute(0, d.O);
  return true;
}

}  // namespace
}  // namespace xdnn::ops
