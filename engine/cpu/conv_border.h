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
// and Z, whose columns are grouped by class, is then put back in (s, oh, ow) order. B's values are read from
// x itself (no zero-bordered copy: a class's taps all lie inside). The class products run one after the
// other, or by blocks of A's rows through all of them, whichever moves fewer bytes (border_class_gemm).
// It pays where the border is a large share of the plane and the classes have columns enough to fill the
// GEMM's panels: ResNet-18's layer3 and layer4 at 64x64 with a batch (forward 15 % and 39 % faster,
// bench/RESULTS.md), not at batch 1 on 224x224 (a corner class of one column pads to a whole panel).
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
#include "engine/cpu/conv_routes.h"
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

// The classes of one axis: class of each output row (or column), each class's tap range and how many
// outputs it holds.
struct AxisClasses {
  std::vector<TapRange> ranges;
  std::vector<int64_t> count;
  std::vector<int64_t> of;  // output index -> class
};

inline AxisClasses axis_classes(int64_t n, int64_t stride, int64_t pad, int64_t dilation, int64_t taps, int64_t size) {
  AxisClasses a;
  for (int64_t o = 0; o < n; ++o) {
    const TapRange r = taps_inside(o, stride, pad, dilation, taps, size);
    const auto it = std::find(a.ranges.begin(), a.ranges.end(), r);
    a.of.push_back(it - a.ranges.begin());
    if (it == a.ranges.end()) {
      a.ranges.push_back(r);
      a.count.push_back(0);
    }
    ++a.count[static_cast<size_t>(a.of.back())];
  }
  return a;
}

// One class's product: its columns, its taps in the full product's k order, their columns of A, where its
// k-blocks end, and its B (K_q, ldb) stored row-major, zero past N_q, read in place by the GEMM
// (B[k][j] at b + koff[k] + j).
template <class T>
struct ClassProduct {
  int64_t n = 0, k = 0, j0 = 0, ldb = 0;  // N_q, K_q, first column in Z, B's row stride
  std::vector<int64_t> colpos, dest, tap, aoff, block_end, koff;
  std::vector<T> b;

  static void fill(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t ncols, int64_t nr, T* dst) {
    const ClassProduct& p = *static_cast<const ClassProduct*>(ctx);
    for (int64_t kk = 0; kk < kc; ++kk) {
      const T* src = p.b.data() + (k0 + kk) * p.ldb + j0;
      for (int64_t c = 0; c < nr; ++c) dst[kk * nr + c] = c < ncols ? src[c] : T(0);
    }
  }
  static bool in_place(const void* ctx, int64_t j0, int64_t nr, int64_t vl, const T** bases) {
    const ClassProduct& p = *static_cast<const ClassProduct*>(ctx);
    for (int64_t h = 0; h * vl < nr; ++h) bases[h] = p.b.data() + j0 + h * vl;
    return true;
  }
  // Or no stored B: its panels gathered from the input xp as the GEMM packs them (tap + column offsets).
  const T* xp = nullptr;
  static void gather(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t ncols, int64_t nr, T* dst) {
    const ClassProduct& p = *static_cast<const ClassProduct*>(ctx);
    const int64_t* cp = p.colpos.data() + j0;
    for (int64_t kk = 0; kk < kc; ++kk) {
      const int64_t tap = p.tap[k0 + kk];
      T* out = dst + kk * nr;
      for (int64_t c = 0; c < ncols; ++c) out[c] = p.xp[tap + cp[c]];
      for (int64_t c = ncols; c < nr; ++c) out[c] = T(0);
    }
  }
  cpu::BPacker<T> stored_packer() const {
    return {&ClassProduct::fill, this, &ClassProduct::in_place, koff.data(), block_end.data()};
  }
  cpu::BPacker<T> gather_packer() const { return {&ClassProduct::gather, this, nullptr, nullptr, block_end.data()}; }
};

// The border classes of a convolution: rows x columns, class q = (q / cols, q % cols).
struct BorderClasses {
  AxisClasses rows, cols;
  int64_t size() const { return static_cast<int64_t>(rows.ranges.size() * cols.ranges.size()); }
  TapRange row_taps(int64_t q) const { return rows.ranges[q / cols.ranges.size()]; }
  TapRange col_taps(int64_t q) const { return cols.ranges[q % cols.ranges.size()]; }
  // Output positions of one sample in class q, and its taps per channel.
  int64_t count(int64_t q) const { return rows.count[q / cols.ranges.size()] * cols.count[q % cols.ranges.size()]; }
  int64_t taps(int64_t q) const {
    const TapRange r = row_taps(q), c = col_taps(q);
    return (r.hi - r.lo) * (c.hi - c.lo);
  }
};

// n columns padded to whole panels of the GEMM's wide kernel.
template <class T>
int64_t padded_columns(int64_t n) {
  const int64_t nr = cpu::gemm_panel_width<T>();
  return (n + nr - 1) / nr * nr;
}

// Blocks of A's rows for the row-block order (border_class_gemm says why).
constexpr int64_t kBorderRows = 24;

// How border_class_gemm runs the convolution (dimensions d, geometry g) of a chunk of S samples, with bc
// set to its classes unless Full:
//   Full          only groups = 1 and the packed-columns route with a padding to skip are considered, and
//                 the class GEMMs must save at least a fifth of the full GEMM's multiply-adds, each product's
//                 columns padded to whole panels (a class of a few columns pads to one panel, so at batch 1
//                 on a small plane the full product is cheaper);
//   RowBlocks     when every class's B once per block of A's rows moves fewer bytes than A's columns of
//                 each class once per class;
//   ClassByClass  otherwise.
template <class T>
cpu::PaddingTaps border_route(const Dims& d, const Conv2dGeometry& g, int64_t S, BorderClasses& bc) {
  if (d.G != 1 || d.KH * d.KW == 1 || !has_padding(g) || !packed_columns_apply<T>(d, S * d.P))
    return cpu::PaddingTaps::Full;
  bc = {axis_classes(d.OH, g.stride_h, g.pad_top, g.dilation_h, d.KH, d.H),
        axis_classes(d.OW, g.stride_w, g.pad_left, g.dilation_w, d.KW, d.W)};
  if (bc.size() == 1) return cpu::PaddingTaps::Full;
  int64_t split = 0;
  double b_bytes = 0, a_bytes = 0;
  for (int64_t q = 0; q < bc.size(); ++q) {
    const int64_t k = d.C * bc.taps(q), n = padded_columns<T>(S * bc.count(q));
    split += n * k;
    b_bytes += static_cast<double>(n * k) * sizeof(T);
    a_bytes += static_cast<double>(d.O * k) * sizeof(T);
  }
  if (5 * split > 4 * padded_columns<T>(S * d.P) * d.K) return cpu::PaddingTaps::Full;
  const double blocks = static_cast<double>((d.O + kBorderRows - 1) / kBorderRows);
  return blocks * b_bytes <= a_bytes ? cpu::PaddingTaps::RowBlocks : cpu::PaddingTaps::ClassByClass;
}

// The forward convolution of samples [n0, n0 + S) of x (dimensions d, geometry g) as the full GEMM
// yc (d.O, S·P) = A · col would compute it, A's element (o, k) at A[o·lda + (a_off ? a_off[k] : k)],
// k = (c, i, j), by border class, unless border_route says Full: then returns false and does nothing.
template <class T>
bool border_class_gemm(const T* x, const Dims& d, const Conv2dGeometry& g, int64_t n0, int64_t S, bool parallel,
                       const T* A, int64_t lda, const int64_t* a_off, T* yc) {
  BorderClasses bc;
  const cpu::PaddingTaps route = border_route<T>(d, g, S, bc);
  if (route == cpu::PaddingTaps::Full) return false;
  const int64_t L = S * d.P, ncc = static_cast<int64_t>(bc.cols.ranges.size());
  thread_local std::vector<T> zbuf;
  thread_local std::vector<ClassProduct<T>> class_buf;
  std::vector<ClassProduct<T>>& classes = class_buf;  // the calling thread's, also inside the workers' lambdas
  // No zero-bordered copy: every tap of a class lies inside the input, so its values are read from x
  // itself, tap (c, i, j) of output (s, oh, ow) at xs[tap + colpos] with tap = (c·H + i·dh)·W + j·dw and
  // colpos = (s·C·H + oh·sh − pt)·W + ow·sw − pl (the full route copies every plane into a zero-bordered one
  // first: ResNet-18's layer4 at batch 16, 8192 planes of 2x2 into 4x4).
  const T* xs = x + n0 * d.C * d.H * d.W;
  T* z = scratch(zbuf, static_cast<size_t>(d.O * L));  // (O, L), columns grouped by class
  classes.resize(static_cast<size_t>(bc.size()));
  for (int64_t q = 0, j0 = 0; q < bc.size(); ++q) {
    ClassProduct<T>& cp = classes[static_cast<size_t>(q)];
    const int64_t rq = q / ncc, cq = q % ncc;
    const TapRange rr = bc.row_taps(q), cr = bc.col_taps(q);
    cp.colpos.clear();
    cp.dest.clear();
    for (int64_t s = 0; s < S; ++s)
      for (int64_t oh = 0; oh < d.OH; ++oh) {
        if (bc.rows.of[oh] != rq) continue;
        for (int64_t ow = 0; ow < d.OW; ++ow)
          if (bc.cols.of[ow] == cq) {
            cp.colpos.push_back((s * d.C * d.H + oh * g.stride_h - g.pad_top) * d.W + ow * g.stride_w - g.pad_left);
            cp.dest.push_back(s * d.P + oh * d.OW + ow);
          }
      }
    cp.n = static_cast<int64_t>(cp.colpos.size());
    cp.j0 = j0;
    j0 += cp.n;
    cp.ldb = padded_columns<T>(cp.n);
    cp.tap.clear();
    cp.aoff.clear();
    cp.block_end.clear();
    int64_t prev_k = 0;  // the full product's k of the class's previous tap
    for (int64_t c = 0; c < d.C; ++c)
      for (int64_t i = rr.lo; i < rr.hi; ++i)
        for (int64_t j = cr.lo; j < cr.hi; ++j) {
          const int64_t k = (c * d.KH + i) * d.KW + j;
          if (!cp.tap.empty() && k / cpu::kGemmBlockK != prev_k / cpu::kGemmBlockK)
            cp.block_end.push_back(static_cast<int64_t>(cp.tap.size()));
          cp.tap.push_back((c * d.H + i * g.dilation_h) * d.W + j * g.dilation_w);
          cp.aoff.push_back(a_off ? a_off[k] : k);
          prev_k = k;
        }
    cp.k = static_cast<int64_t>(cp.tap.size());
    cp.block_end.push_back(cp.k);
    cp.koff.resize(static_cast<size_t>(cp.k));
    for (int64_t k = 0; k < cp.k; ++k) cp.koff[k] = k * cp.ldb;
    cp.xp = xs;
  }
  const auto unpermute = [&](int64_t r0, int64_t r1) {  // rows [r0, r1) of Z back to (s, oh, ow) order
    for (int64_t o = r0; o < r1; ++o)
      for (const ClassProduct<T>& cp : classes)
        for (int64_t j = 0; j < cp.n; ++j) yc[o * L + cp.dest[j]] = z[o * L + cp.j0 + j];
  };
  // Two orders. Class by class, each product on the threads, B's panels gathered as the GEMM packs them:
  // A's columns of each class are streamed once per class (4 times 4/9 of ResNet-18 layer4's 9.4 MB).
  // Or A's rows in blocks of kBorderRows, each block through every class while its weights are in L2, B
  // gathered once beforehand and read in place (blocks of 6 to 96 rows measured: 24 the best or within
  // the noise of it). That moves every class's B once per block, so it is taken when that is fewer bytes
  // than the first order's A (ResNet-18 at 64x64, batch 16: layer4 22 blocks x 0.5 MB against 16.7 MB;
  // layer3 11 x 1.6 MB against 13 MB, class by class). Each element is one product's either way: the same
  // bits.
  // Each class's B gathered once into its stored panels, the threads splitting the channels (a class's
  // rows of channel c are [c·taps_q, (c + 1)·taps_q)); `stored` picks the classes.
  const auto gather_stored = [&](const std::vector<char>& stored) {
    for (size_t q = 0; q < classes.size(); ++q)
      if (stored[q])
        cpu::grow_scratch(classes[q].b, static_cast<size_t>(classes[q].k * classes[q].ldb), "class columns");
    parallel_for(d.C, grain_for_work(d.K * L / std::max<int64_t>(d.C, 1)), [&](int64_t c0, int64_t c1) {
      for (size_t q = 0; q < classes.size(); ++q) {  // rows [c0·taps_q, c1·taps_q): zeros past N_q
        if (!stored[q]) continue;
        ClassProduct<T>& cp = classes[q];
        const int64_t taps_q = cp.k / d.C;
        ClassProduct<T>::gather(&cp, c0 * taps_q, (c1 - c0) * taps_q, 0, cp.n, cp.ldb,
                                cp.b.data() + c0 * taps_q * cp.ldb);
      }
    });
  };
  if (route == cpu::PaddingTaps::ClassByClass) {
    // A class of fewer column panels than two per thread has its product split by A's rows (gemm_driver.h),
    // and every row range would gather the class's B again as it packs it (layer3 at 64x64, batch 16: 8 of
    // its 9 classes, 4 ranges on 2 threads). Those are gathered once, on the threads, and read in place;
    // the others are gathered as their panels are packed.
    const int64_t nr = cpu::gemm_panel_width<T>();
    std::vector<char> stored(classes.size(), 0);
    bool any = false;
    for (size_t q = 0; q < classes.size(); ++q) {
      stored[q] = parallel && classes[q].n > 0 && classes[q].ldb / nr < 2 * num_threads();
      any = any || stored[q];
    }
    if (any) gather_stored(stored);
    for (size_t q = 0; q < classes.size(); ++q) {
      const ClassProduct<T>& cp = classes[q];
      if (cp.n > 0)
        cpu::gemm_packed_b<T>(parallel, d.O, cp.n, cp.k, A, lda, stored[q] ? cp.stored_packer() : cp.gather_packer(),
                              z + cp.j0, L, cp.aoff.data());
    }
    if (parallel)
      parallel_for(d.O, grain_for_work(L), unpermute);
    else
      unpermute(0, d.O);
    return true;
  }
  gather_stored(std::vector<char>(classes.size(), 1));
  const int64_t blocks = (d.O + kBorderRows - 1) / kBorderRows;
  const auto rows = [&](int64_t b0, int64_t b1) {
    const int64_t r0 = b0 * kBorderRows, r1 = std::min(d.O, b1 * kBorderRows);
    for (const ClassProduct<T>& cp : classes)
      if (cp.n > 0)
        cpu::gemm_packed_b<T>(false, r1 - r0, cp.n, cp.k, A + r0 * lda, lda, cp.stored_packer(), z + r0 * L + cp.j0, L,
                              cp.aoff.data());
    unpermute(r0, r1);
  };
  if (parallel)
    parallel_for(blocks, 1, rows);
  else
    rows(0, blocks);
  return true;
}

}  // namespace
}  // namespace xdnn::ops
