// im2col / col2im for engine/cpu/conv.cpp (its file comment gives the layouts), and the convolution's
// dimensions. Included by conv.cpp only (anonymous namespace, like gemm_driver.h and conv_direct.h).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/cpu/gemm.h"
#include "engine/cpu/im2col_avx512.h"
#include "engine/cpu/scratch.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/shape_util.h"

namespace xdnn::ops {
namespace {

// A thread's scratch buffer of at least n elements.
template <class T>
T* scratch(std::vector<T>& v, size_t n) {
  cpu::grow_scratch(v, n, "convolution scratch buffer");
  return v.data();
}

struct Dims {
  int64_t N, C, H, W, O, KH, KW, OH, OW, G, Cg, Og, K, P;
};

Dims conv_dims(const Shape& x_shape, const Shape& w_shape, const Conv2dGeometry& g) {
  Dims d{};
  d.N = x_shape[0];
  d.C = x_shape[1];
  d.H = x_shape[2];
  d.W = x_shape[3];
  d.O = w_shape[0];
  d.KH = w_shape[2];
  d.KW = w_shape[3];
  d.G = g.groups;
  d.Cg = d.C / d.G;
  d.Og = d.O / d.G;
  const Shape out = conv2d_output_shape(x_shape, w_shape, g);
  d.OH = out[2];
  d.OW = out[3];
  d.K = d.Cg * d.KH * d.KW;
  d.P = d.OH * d.OW;
  // The scratch buffers: one sample's columns (C·KH·KW, OH·OW) and a padded plane; checked like tensors.
  checked_numel({d.C, d.KH, d.KW, d.OH, d.OW}, "conv2d im2col");
  checked_numel({d.H + g.pad_top + g.pad_bottom, d.W + g.pad_left + g.pad_right}, "conv2d padded plane");
  return d;
}

// dst[0, n) = src[0, n) with fixed-size vector moves (a libc memmove call per short row, as std::copy
// makes of it, costs more than the copy: im2col's rows are OW = 7..28 elements long). The moves go through
// unaligned vector types: a 32-byte memcpy is expanded as two 16-byte moves under the x86-64-v3 tuning.
template <class T>
inline void copy_short(const T* src, T* dst, int64_t n) {
  typedef T V __attribute__((vector_size(32), aligned(sizeof(T)), may_alias));
  typedef T H __attribute__((vector_size(16), aligned(sizeof(T)), may_alias));
  constexpr int64_t VL = 32 / sizeof(T), HL = 16 / sizeof(T);
  if (n >= VL) {
    int64_t k = 0;
    for (; k + VL <= n; k += VL) *reinterpret_cast<V*>(dst + k) = *reinterpret_cast<const V*>(src + k);
    if (k < n)  // overlapping last vector: the same values again
      *reinterpret_cast<V*>(dst + n - VL) = *reinterpret_cast<const V*>(src + n - VL);
  } else if (n >= HL) {
    *reinterpret_cast<H*>(dst) = *reinterpret_cast<const H*>(src);
    *reinterpret_cast<H*>(dst + n - HL) = *reinterpret_cast<const H*>(src + n - HL);
  } else {
    for (int64_t k = 0; k < n; ++k) dst[k] = src[k];
  }
}

// dst[0, n) += src[0, n) in fixed-size vector steps (8, then 4 lanes for float), the rest one by one: no
// alias-check versioning or scalar epilogue per short row. Same additions, element by element.
template <class T>
inline void add_short(const T* src, T* dst, int64_t n) {
  typedef T V __attribute__((vector_size(32), aligned(sizeof(T)), may_alias));
  typedef T H __attribute__((vector_size(16), aligned(sizeof(T)), may_alias));
  constexpr int64_t VL = 32 / sizeof(T), HL = 16 / sizeof(T);
  int64_t k = 0;
  for (; k + VL <= n; k += VL) *reinterpret_cast<V*>(dst + k) += *reinterpret_cast<const V*>(src + k);
  if (k + HL <= n) {
    *reinterpret_cast<H*>(dst + k) += *reinterpret_cast<const H*>(src + k);
    k += HL;
  }
  for (; k < n; ++k) dst[k] += src[k];
}

// Plane size with the padding: every tap of every output lands inside it, so im2col and col2im need no
// bounds checks (the output-size formula guarantees (OH − 1)·sh + (KH − 1)·dh < Hp, likewise for W).
int64_t padded_h(const Dims& d, const Conv2dGeometry& g) { return d.H + g.pad_top + g.pad_bottom; }
int64_t padded_w(const Dims& d, const Conv2dGeometry& g) { return d.W + g.pad_left + g.pad_right; }
bool has_padding(const Conv2dGeometry& g) {
  return g.pad_top != 0 || g.pad_left != 0 || g.pad_bottom != 0 || g.pad_right != 0;
}

// The KH·KW rows of one channel's columns from its (padded) plane xp (Hp, Wp); rows `ld` apart. The
// geometry is read into locals first: the stores through `rows` could alias d and g otherwise, and the
// compiler would reload them for every short row.
template <class T>
void plane_to_rows(const T* xp, int64_t Wp, const Dims& d, const Conv2dGeometry& g, T* rows, int64_t ld) {
  const int64_t KH = d.KH, KW = d.KW, OH = d.OH, OW = d.OW;
  const int64_t sh = g.stride_h, sw = g.stride_w, dh = g.dilation_h, dw = g.dilation_w;
  for (int64_t i = 0; i < KH; ++i)
    for (int64_t j = 0; j < KW; ++j) {
      T* dst = rows + (i * KW + j) * ld;
      const T* src = xp + i * dh * Wp + j * dw;
      for (int64_t oh = 0; oh < OH; ++oh, dst += OW, src += sh * Wp) {
        if (sw == 1)
          copy_short(src, dst, OW);
        else
          for (int64_t ow = 0; ow < OW; ++ow) dst[ow] = src[ow * sw];
      }
    }
}

// x: (C, H, W) of one sample -> its P columns of col, rows (C·KH·KW) `ld` apart. With padding, each
// channel is first copied into a zero-bordered plane (Hp, Wp).
template <class T>
void im2col(const T* x, const Dims& d, const Conv2dGeometry& g, T* col, int64_t ld) {
  if (!has_padding(g)) {
    for (int64_t c = 0; c < d.C; ++c) plane_to_rows(x + c * d.H * d.W, d.W, d, g, col + c * d.KH * d.KW * ld, ld);
    return;
  }
  thread_local std::vector<T> planebuf;
  const int64_t Hp = padded_h(d, g), Wp = padded_w(d, g);
  T* xp = scratch(planebuf, static_cast<size_t>(Hp * Wp));
  std::fill(xp, xp + Hp * Wp, T(0));  // the border stays zero; the interior is overwritten per channel
  for (int64_t c = 0; c < d.C; ++c) {
    for (int64_t h = 0; h < d.H; ++h) copy_short(x + (c * d.H + h) * d.W, xp + (h + g.pad_top) * Wp + g.pad_left, d.W);
    plane_to_rows(xp, Wp, d, g, col + c * d.KH * d.KW * ld, ld);
  }
}

// A horizontal stride sw > 1 stores each zero-bordered row by phase: padded column w at (w mod sw)·Wq + w / sw,
// Wq = ⌈Wp / sw⌉ (rows sw·Wq long, the slots past Wp zero). Then the inputs of consecutive outputs of one tap,
// columns ow·sw + j·dw, are consecutive values (phase (j·dw) mod sw, from (j·dw) / sw): the column fill is
// a plain copy and the GEMM can read the panels in place, as for stride 1; col2im adds whole vectors.
inline int64_t phase_width(const Dims& d, const Conv2dGeometry& g) {
  return (padded_w(d, g) + g.stride_w - 1) / g.stride_w;
}

// Between a row of W values and its padded row stored by phase (RW = sw·Wq values): to_phases copies
// x[w] to row[(w + pl) mod sw · Wq + (w + pl) / sw], else the other way. Phase ph holds input columns
// w = t·sw + ph − pl for t in [lo[ph], hi[ph]); the slots outside are left as they are.
struct PhaseRows {
  int64_t sw, Wq, pl, W;
  int64_t lo[8], hi[8];

  PhaseRows(const Dims& d, const Conv2dGeometry& g) : sw(g.stride_w), Wq(phase_width(d, g)), pl(g.pad_left), W(d.W) {
    for (int64_t ph = 0; ph < std::min<int64_t>(sw, 8); ++ph) {
      lo[ph] = ph >= pl ? 0 : (pl - ph + sw - 1) / sw;
      const int64_t last = W - 1 + pl - ph;  // t·sw ≤ last; none when negative (division truncates toward 0)
      hi[ph] = last < 0 ? 0 : std::min(Wq, last / sw + 1);
    }
  }

  template <bool to_phases, class T>
  void copy(std::conditional_t<to_phases, const T*, T*> x, std::conditional_t<to_phases, T*, const T*> row) const {
    if (sw > 8) {  // never in practice: one value at a time
      for (int64_t w = 0; w < W; ++w) {
        const int64_t at = ((w + pl) % sw) * Wq + (w + pl) / sw;
        if constexpr (to_phases)
          row[at] = x[w];
        else
          x[w] = row[at];
      }
      return;
    }
    for (int64_t ph = 0; ph < sw; ++ph) {
      const int64_t shift = ph - pl, b = lo[ph], e = hi[ph];
      const auto r = row + ph * Wq;
      if (sw == 2) {  // ResNet's stride: a constant step the compiler turns into vector shuffles
        for (int64_t t = b; t < e; ++t) {
          if constexpr (to_phases)
            r[t] = x[2 * t + shift];
          else
            x[2 * t + shift] = r[t];
        }
      } else {
        for (int64_t t = b; t < e; ++t) {
          if constexpr (to_phases)
            r[t] = x[t * sw + shift];
          else
            x[t * sw + shift] = r[t];
        }
      }
    }
  }
};

template <class T>
void pad_plane_by_phase(const T* x, const Dims& d, const Conv2dGeometry& g, T* dst) {
  const PhaseRows rows(d, g);
  const int64_t RW = rows.sw * rows.Wq;
  std::fill(dst, dst + padded_h(d, g) * RW, T(0));
  for (int64_t h = 0; h < d.H; ++h) rows.copy<true, T>(x + h * d.W, dst + (g.pad_top + h) * RW);
}

// The transpose of im2col for channels [c0, c1): gx (C, H, W) = Σ over one sample's columns (rows `ld`
// apart), overwritten. Sums run in a zeroed padded plane in the fixed order (i, j, oh, ow); its interior is
// then copied out. With a stride above 1 the plane's rows are stored by phase (PhaseRows), so one tap row's
// outputs add to consecutive values, a vector at a time; each element still gets its terms in the same
// order, so the same bits.
template <class T>
void col2im(const T* col, const Dims& d, const Conv2dGeometry& g, T* gx, int64_t ld, int64_t c0, int64_t c1) {
  thread_local std::vector<T> planebuf;
  const int64_t sw = g.stride_w, Wq = phase_width(d, g), RW = sw * Wq;  // RW = Wp for stride 1
  const int64_t Hp = padded_h(d, g);
  const int64_t H = d.H, W = d.W, KH = d.KH, KW = d.KW, OH = d.OH, OW = d.OW;
  const int64_t sh = g.stride_h, dh = g.dilation_h, dw = g.dilation_w;
  const int64_t pt = g.pad_top, pl = g.pad_left;
  const PhaseRows phases(d, g);
  T* gp = scratch(planebuf, static_cast<size_t>(Hp * RW));
  for (int64_t c = c0; c < c1; ++c) {
    std::fill(gp, gp + Hp * RW, T(0));
    for (int64_t i = 0; i < KH; ++i)
      for (int64_t j = 0; j < KW; ++j) {
        const T* r = col + ((c * KH + i) * KW + j) * ld;
        T* dst = gp + i * dh * RW + ((j * dw) % sw) * Wq + (j * dw) / sw;
        for (int64_t oh = 0; oh < OH; ++oh, r += OW, dst += sh * RW) add_short(r, dst, OW);
      }
    for (int64_t h = 0; h < H; ++h) {
      if (sw > 1)
        phases.copy<false, T>(gx + (c * H + h) * W, gp + (h + pt) * RW);
      else
        copy_short(gp + (h + pt) * RW + pl, gx + (c * H + h) * W, W);
    }
  }
}

// Elements kept zero before and after the input gradient's column scratch: col2im_rows reads whole
// vectors that may start up to KW − 1 elements before a row and end up to KW − 1 past it (those lanes are
// masked off), so every read stays inside the allocation.
constexpr int64_t kColMargin = 64;

// col2im_rows pays off for rows of one to two vectors (fashion-cnn's conv2: 14 floats), where col2im's
// per-row adds are mostly tail; for longer rows (28 floats) col2im is as fast.
template <class T>
bool col2im_rows_applies(const Dims& d, const Conv2dGeometry& g) {
  constexpr int64_t VL = 32 / sizeof(T);
  return g.stride_h == 1 && g.stride_w == 1 && g.dilation_h == 1 && g.dilation_w == 1 && d.W >= VL && d.W < 2 * VL &&
         d.KW < kColMargin;
}

// col2im for stride 1 and dilation 1, channels [c0, c1), input-stationary: each vector of VL elements of an input row
// sums its contributions in a register, taps in (i, j) order starting from zero — the additions col2im makes per
// element, in the same order, so the same bits. Lanes whose tap falls outside the output add +0, which
// changes no sum that starts from +0. No zero-filled plane, no scatter, no copy out. The last vector of a
// row overlaps the one before when VL does not divide W (the same values written twice).
template <class T>
void col2im_rows(const T* col, const Dims& d, const Conv2dGeometry& g, T* gx, int64_t ld, int64_t c0, int64_t c1) {
  typedef T V __attribute__((vector_size(32), aligned(sizeof(T)), may_alias));
  typedef std::conditional_t<sizeof(T) == 4, int32_t, int64_t> E;
  typedef E M __attribute__((vector_size(32)));
  constexpr int64_t VL = 32 / sizeof(T);
  const int64_t H = d.H, W = d.W, KH = d.KH, KW = d.KW, OH = d.OH, OW = d.OW;
  const int64_t pt = g.pad_top, pl = g.pad_left;
  M lane;
  for (int64_t l = 0; l < VL; ++l) lane[l] = static_cast<E>(l);
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w00 = 0; w00 < W; w00 += VL) {
        const int64_t w0 = std::min(w00, W - VL);
        V acc = V{};
        for (int64_t i = 0; i < KH; ++i) {
          const int64_t oh = h + pt - i;  // the output row whose tap row i lands on row h
          if (oh < 0 || oh >= OH) continue;
          for (int64_t j = 0; j < KW; ++j) {
            const int64_t ow0 = w0 + pl - j;  // lane l: output column ow0 + l
            const M at = lane + static_cast<E>(ow0);
            const M inside = (at >= 0) & (at < static_cast<E>(OW));
            const V v = *reinterpret_cast<const V*>(col + ((c * KH + i) * KW + j) * ld + oh * OW + ow0);
            acc += inside ? v : V{};
          }
        }
        *reinterpret_cast<V*>(gx + (c * H + h) * W + w0) = acc;
      }
}

// The im2col columns of samples [n0, n0 + S) (groups = 1), built straight into the GEMM's column panels
// (cpu::BPacker): dst[k * nr + c] = col[k0 + k][j0 + c] for k < kc, c < ncols, zeros up to nr. Row k of
// col is tap (ci, i, j) of channel ci; columns run over (s, oh, ow), so a panel's nr columns are runs along
// output rows r = (s, oh), each read from one input row. Exactly the values im2col writes, so the GEMM
// gives the same bits.
//
// The input is read from xp (S, C, Hp, RW): the chunk's samples with their zero border, rows stored by
// phase for a stride above 1 (a copy made once per chunk, packed_columns below; x itself for stride 1
// without padding), so every tap lies inside and a run is a plain copy of consecutive values. Where a value
// sits is a sum of two precomputed offsets, tap[k] (channel, row and phase of tap k) and row[r] (sample and
// first input row of output row r): the element of column (r, ow) is xp[tap[k] + row[r] + ow]. No division
// or bounds test per k or per run (the divisions and run bounds were half of the packing's time on
// ResNet-18, whose layer3 / layer4 runs are 4 and 2 values long).
template <class T>
struct PackedColumns {
  const T* xp;         // (S, C, Hp, RW)
  const int64_t* tap;  // (K): offset of tap k within a sample
  const int64_t* row;  // (S·OH): offset of output row r's first tap-(0, 0) input
  int64_t OW;
  bool gather;  // fill_gather applies (packed_columns says when)

  static void fill(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t ncols, int64_t nr, T* dst) {
    const PackedColumns& p = *static_cast<const PackedColumns*>(ctx);
    const int64_t OW = p.OW, r0 = j0 / OW, ow0 = j0 % OW;
    for (int64_t kk = 0; kk < kc; ++kk) {
      const T* base = p.xp + p.tap[k0 + kk];
      T* out = dst + kk * nr;
      int64_t c = 0, ow = ow0;
      for (int64_t r = r0; c < ncols; ++r, ow = 0) {
        const int64_t run = std::min(OW - ow, ncols - c);
        copy_short(base + p.row[r] + ow, out + c, run);
        c += run;
      }
      for (int64_t t = ncols; t < nr; ++t) out[t] = T(0);
    }
  }

  // The same panel through AVX-512 gathers (engine/cpu/im2col_avx512.h): column c of the panel lies at
  // idx[c] = row[r] + ow·sw from every tap's base xp + tap[k], so the offsets are computed once per panel.
  static void fill_gather(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t ncols, int64_t nr, T* dst) {
    const PackedColumns& p = *static_cast<const PackedColumns*>(ctx);
    if (nr > cpu::kGatherColumns || nr % (64 / static_cast<int64_t>(sizeof(T))) != 0)
      return fill(ctx, k0, kc, j0, ncols, nr, dst);
    int32_t idx[cpu::kGatherColumns];
    for (int64_t c = 0, r = j0 / p.OW, ow = j0 % p.OW; c < ncols; ++c) {
      idx[c] = static_cast<int32_t>(p.row[r] + ow);
      if (++ow == p.OW) {
        ow = 0;
        ++r;
      }
    }
    cpu::gather_columns_avx512<T>(p.xp, p.tap + k0, kc, idx, ncols, nr, dst);
  }

  // The panel [j0, j0 + nr) read where it lies (cpu::BPacker::in_place) when every run of vl columns stays on
  // one output row r: column (r, ow + c) of tap k is xp[tap[k] + row[r] + ow + c], vl consecutive values.
  // The micro-kernel loads them there, so the values, and the bits, are those of fill.
  // Only when vl divides OW, so that every full panel qualifies: where runs cross rows (fashion-cnn's rows of
  // 14, ResNet's of 28 at 224x224) most panels are packed anyway, and the few read in place made the
  // product 2-3 % slower, not faster (with every panel in place it is 10 % faster: ResNet-18's layer1 and stem).
  static bool in_place(const void* ctx, int64_t j0, int64_t nr, int64_t vl, const T** bases) {
    const PackedColumns& p = *static_cast<const PackedColumns*>(ctx);
    if (p.OW % vl != 0) return false;
    for (int64_t h = 0; h * vl < nr; ++h) {
      const int64_t j = j0 + h * vl, r = j / p.OW, ow = j % p.OW;
      if (ow + vl > p.OW) return false;
      bases[h] = p.xp + p.row[r] + ow;
    }
    return true;
  }

  cpu::BPacker<T> packer() const {
    return {gather ? &PackedColumns::fill_gather : &PackedColumns::fill, this, &PackedColumns::in_place, tap};
  }
};

// One (H, W) plane of x into its zero-bordered (Hp, Wp) plane at dst.
template <class T>
void pad_plane(const T* x, const Dims& d, const Conv2dGeometry& g, T* dst) {
  const int64_t Wp = padded_w(d, g), plane = padded_h(d, g) * Wp;
  std::fill(dst, dst + g.pad_top * Wp, T(0));
  for (int64_t h = 0; h < d.H; ++h) {
    T* drow = dst + (g.pad_top + h) * Wp;
    std::fill(drow, drow + g.pad_left, T(0));
    copy_short(x + h * d.W, drow + g.pad_left, d.W);
    std::fill(drow + g.pad_left + d.W, drow + Wp, T(0));
  }
  std::fill(dst + (g.pad_top + d.H) * Wp, dst + plane, T(0));
}

// The PackedColumns of samples [n0, n0 + S) of x (N, C, H, W); its tables and padded copy live in the
// calling thread's buffers, which must outlive the GEMM that reads them.
template <class T>
PackedColumns<T> packed_columns(const T* x, const Dims& d, const Conv2dGeometry& g, int64_t n0, int64_t S,
                                std::vector<T>& padbuf, std::vector<int64_t>& tables) {
  const int64_t sw = g.stride_w, Hp = padded_h(d, g);
  const int64_t Wq = phase_width(d, g), RW = sw * Wq;  // row length as stored (Wp for stride 1)
  const int64_t plane = Hp * RW;
  const T* xp = x + n0 * d.C * d.H * d.W;
  if (has_padding(g) || sw > 1) {
    T* buf = scratch(padbuf, static_cast<size_t>(S * d.C * plane));
    // Sample-channel planes, split over the threads: a product of the whole batch (ResNet-18's layer2 to
    // layer4) copies it here before its GEMM forks, so a serial copy would keep the workers waiting. A
    // plain copy, so the split changes no value. Inside a parallel region (one chunk of samples per thread)
    // the nested loop runs on the calling thread.
    parallel_for(S * d.C, grain_for_work(plane), [&](int64_t sc0, int64_t sc1) {
      for (int64_t sc = sc0; sc < sc1; ++sc) {
        if (sw > 1)
          pad_plane_by_phase(xp + sc * d.H * d.W, d, g, buf + sc * plane);
        else
          pad_plane(xp + sc * d.H * d.W, d, g, buf + sc * plane);
      }
    });
    xp = buf;
  }
  int64_t* tap = scratch(tables, static_cast<size_t>(d.K + S * d.OH));
  int64_t* row = tap + d.K;
  for (int64_t ci = 0, k = 0; ci < d.C; ++ci)
    for (int64_t i = 0; i < d.KH; ++i)
      for (int64_t j = 0; j < d.KW; ++j) {
        const int64_t col = j * g.dilation_w;  // padded column of output 0's tap; phase col mod sw
        tap[k++] = ci * plane + i * g.dilation_h * RW + (col % sw) * Wq + col / sw;
      }
  for (int64_t s = 0, r = 0; s < S; ++s)
    for (int64_t oh = 0; oh < d.OH; ++oh) row[r++] = s * d.C * plane + oh * g.stride_h * RW;
  // Gathers take 32-bit offsets: every offset lies inside the S·C padded planes (or the S samples of x).
  const bool gather = cpu::gemm_kernel() == cpu::GemmKernel::Vec512 && cpu::gather_columns_avx512_built() &&
                      S * d.C * plane < (int64_t(1) << 31);
  return PackedColumns<T>{xp, tap, row, d.OW, gather};
}

}  // namespace
}  // namespace xdnn::ops
