// Depthwise convolution on the CPU (MobileNet's 3x3 layers, Howard et al. 2017 §3.1; Sandler et al. 2018
// Table 1): groups = C, each input channel c convolved with its own M filters (channel multiplier M,
// O = C·M output channels, output channel o reads input channel o / M). Called by engine/cpu/conv.cpp for
// such shapes instead of the im2col + GEMM route, which runs C GEMMs of M x KH·KW x OH·OW there (for M = 1,
// a matrix-vector product per channel plus an im2col that copies every input value KH·KW times).
//
// Shapes: x (N, C, H, W), w (C·M, 1, KH, KW), b (C·M) or null, y / gy (N, C·M, OH, OW).
//   forward       y[n, o, oh, ow] = Σ_(i, j) w[o, i, j] · x[n, o / M, oh·sh − pt + i·dh, ow·sw − pl + j·dw] (+ b[o])
//   input grad    gx[n, c, ih, iw] = Σ_m Σ_(oh, i, j) w[c·M + m, i, j] · gy[n, c·M + m, oh, ow] over the taps
//                 landing on (ih, iw)
//   weight grad   gw[o, i, j] = Σ_n Σ_(oh, ow) gy[n, o, oh, ow] · x[n, o / M, ih, iw]; gb[o] += Σ_n Σ_p gy[n, o, p]
//
// Determinism: every output element is summed in an order fixed by the loops (taps (i, j) ascending; for
// the input gradient (m, oh, i, j); for the weight gradient samples and rows in order, then the positions
// of a row in order), and threads split outputs only (planes of y / gx, output channels of gw), so the
// bits depend on the shapes alone. Taps outside the input are skipped; their term would be an exact zero,
// so outputs with identical receptive fields still get identical bits (max-pool tie routing relies on it).
#pragma once
#include <cstdint>

#include "engine/ops.h"

namespace xdnn::cpu {

struct DepthwiseShape {
  int64_t N, C, H, W, M, KH, KW, OH, OW;  // M: output channels per input channel
};

// The dedicated route applies to grouped convolutions with one input channel per group and more than
// one group (a single channel with groups = 1 is an ordinary convolution, conv.cpp's direct route).
inline bool depthwise_applies(int64_t C, int64_t O, int64_t groups) { return groups > 1 && groups == C && O % C == 0; }

template <class T>
void depthwise_forward(const T* x, const T* w, const T* b, const DepthwiseShape& s, const ops::Conv2dGeometry& g, T* y);
template <class T>
void depthwise_backward_input(const T* gy, const T* w, const DepthwiseShape& s, const ops::Conv2dGeometry& g, T* gx);
// gw (C·M, 1, KH, KW) overwritten, or added to with `accumulate`; gb (C·M) added to when not null.
// per_example: gw is (N, C·M, 1, KH, KW), one gradient per sample (overwritten; gb must be null).
template <class T>
void depthwise_backward_weight(const T* x, const T* gy, const DepthwiseShape& s, const ops::Conv2dGeometry& g,
                               bool accumulate, bool per_example, T* gw, T* gb);

}  // namespace xdnn::cpu
