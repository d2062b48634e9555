// The input gradient of a stride-1 convolution run as a forward convolution of gy (engine/cpu/conv.cpp's
// conv2d_backward_input). Included by conv.cpp only, after conv_chunks.h (anonymous namespace, like it).
//
//   gx[n, c, h, w] = Σ_(o, i, j) gy[n, o, h + pt − i·dh, w + pl − j·dw] · w[o, c, i, j]   (taps inside gy)
//
// is the forward convolution of gy (N, O, OH, OW) with the flipped, transposed weights
// wf[c, o, i, j] = w[o, c, KH−1−i, KW−1−j] (C, O, KH, KW) and the padding (K−1)·dilation − pad on each side:
// its output is (N, C, H, W). Run so, it takes the forward's packed-columns GEMM (gathered column panels,
// engine/cpu/im2col_avx512.h) and needs no col2im scatter. wf is not built per call (that cost 7 % of a
// ResNet-18 IG-16 and 11 % of its saliency: a 9.4 MB transpose per layer4 convolution): the GEMM reads w in
// place through an offset table (gemm_packed_b's a_offsets), row c at w + c·KH·KW, column k = (o, i, j) at
// o·C·KH·KW + (KH·KW − 1 − (i·KW + j)), unless the caller hands wf over (built once by a frozen layer,
// ops::conv2d_flipped_weights): then row c is read in place, K contiguous values. The table puts one output
// channel's taps for MR rows in KH·KW·MR contiguous values and the next channel C·KH·KW further on, a
// pattern the prefetchers do not follow: with the weights out of the caches, as in a model pass, ResNet-18's
// layer4 input gradient took 7.3 ms through the table and 4.9 ms on wf (1 thread, 3x224x224, batch 1).
// The two read the same values in the same order, so they give the same bits.
//
// Rule, on the shapes alone (never N, so a sample alone takes the route of its batch): one group,
// stride 1, a kernel larger than 1x1, at least 32 input channels (the flipped forward's output channels,
// as packed_columns_apply wants), paddings within the dilated kernel's reach. Each gx element is then a
// sum over k = (o, i, j) in increasing order, k-blocked as every GEMM (gemm_driver.h), the same for any
// thread count and any batch around the sample; it is not the col2im route's order, so the two agree to
// rounding, not bit for bit.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "engine/cpu/conv_border.h"
#include "engine/cpu/conv_chunks.h"
#include "engine/cpu/gemm.h"
#include "engine/cpu/im2col.h"
#include "engine/parallel.h"

namespace xdnn::ops {
namespace {

bool flipped_forward_applies(const Dims& d, const Conv2dGeometry& g) {
  const int64_t reach_h = (d.KH - 1) * g.dilation_h, reach_w = (d.KW - 1) * g.dilation_w;
  return d.G == 1 && g.stride_h == 1 && g.stride_w == 1 && d.KH * d.KW > 1 && d.C >= 32 && g.pad_top <= reach_h &&
         g.pad_bottom <= reach_h && g.pad_left <= reach_w && g.pad_right <= reach_w;
}

// The flipped forward's geometry: same stride and dilation, padding (K−1)·dilation − pad per side.
Conv2dGeometry flipped_geometry(const Dims& d, const Conv2dGeometry& g) {
  Conv2dGeometry f = g;
  f.pad_top = (d.KH - 1) * g.dilation_h - g.pad_top;
  f.pad_bottom = (d.KH - 1) * g.dilation_h - g.pad_bottom;
  f.pad_left = (d.KW - 1) * g.dilation_w - g.pad_left;
  f.pad_right = (d.KW - 1) * g.dilation_w - g.pad_right;
  return f;
}

// The flipped forward's dimensions: input gy (N, O, OH, OW), weights (C, O, KH, KW), geometry fg; f.O = C,
// f.K = O·KH·KW.
Dims flipped_dims(const Dims& d, const Conv2dGeometry& fg) {
  return conv_dims({d.N, d.O, d.OH, d.OW}, {d.C, d.O, d.KH, d.KW}, fg);
}

// gx (N, C, H, W) from gy (N, O, OH, OW) and w (O, C, KH, KW), or wf (C, O, KH, KW) when not null, d and g the
// convolution's own dimensions and geometry, flipped_forward_applies(d, g).
template <class T>
void flipped_backward_input(const T* pg, const T* pw, const T* pwf, const Dims& d, const Conv2dGeometry& g, T* pgx) {
  const Conv2dGeometry fg = flipped_geometry(d, g);
  const Dims f = flipped_dims(d, fg);
  const int64_t taps = d.KH * d.KW;
  // A (C, K) = wf: rows of wf in place, or rows of w through the table (column k = (o, i, j) of wf from row
  // c's start in w).
  const T* A = pwf ? pwf : pw;
  const int64_t lda = pwf ? f.K : taps;
  std::vector<int64_t> off;
  if (!pwf)
    for (int64_t o = 0; o < d.O; ++o)
      for (int64_t t = 0; t < taps; ++t) off.push_back(o * d.C * taps + (taps - 1 - t));
  const int64_t* a_off = pwf ? nullptr : off.data();
  for_each_chunk(d.N, chunk_samples(f), [&](int64_t n0, int64_t s, bool parallel) {
    thread_local std::vector<T> colbuf, outbuf;  // the padded copy of gy, the chunk's (C, s·P) output
    thread_local std::vector<int64_t> tables;
    const int64_t L = s * f.P;
    T* yc = s == 1 ? pgx + n0 * f.O * f.P : scratch(outbuf, static_cast<size_t>(f.O * L));
    // Packed panels whatever L (the forward keeps the im2col buffer for few columns): a short L pads its
    // last panel, but the buffer route would need wf stored.
    if (!border_class_gemm<T>(pg, f, fg, n0, s, parallel, A, lda, a_off, yc)) {  // conv_border.h
      const PackedColumns<T> cols = packed_columns(pg, f, fg, n0, s, colbuf, tables);
      cpu::gemm_packed_b<T>(parallel, f.O, L, f.K, A, lda, cols.packer(), yc, L, a_off);
    }
    if (s == 1) return;
    const auto rows = [&](int64_t r0, int64_t r1) {  // (C, s·P) chunk layout -> gx (s, C, P)
      for (int64_t r = r0; r < r1; ++r) {
        const T* src = yc + (r % f.O) * L + (r / f.O) * f.P;
        std::copy(src, src + f.P, pgx + (n0 * f.O + r) * f.P);
      }
    };
    if (parallel)  // the chunk is the whole batch: its copy over threads too, as the GEMM was
      parallel_for(s * f.O, grain_for_work(f.P), rows);
    else
      rows(0, s * f.O);
  });
}

}  // namespace
}  // namespace xdnn::ops
