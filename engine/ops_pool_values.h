// Max pooling for forward-only graphs (models/fuse_epilogues.h): the maxima alone, without the arg-max
// indices or tap codes that a backward pass would read. Its own header so that adding to it rebuilds only
// its users. CPU only (engine/cpu/pooling_tap_codes.cpp); other devices and geometries keep the general
// ops::maxpool2d_forward (MaxPool2d::forward), whose maxima these are, bit for bit.
#pragma once
#include "engine/ops.h"

namespace xdnn::ops {

// Whether maxpool2d_forward_values takes x: float32 or float64 (N, C, H, W) on the CPU, a 2x2 stride-2
// window without padding, dilation or ceil_mode, H, W >= 2.
bool maxpool2d_values_apply(const Tensor& x, const Pool2dGeometry& g);
// y (N, C, H/2, W/2): the same maxima as maxpool2d_forward (same taps, scan order and first-maximum /
// first-NaN selects, so ties, NaN and −0 give the same bits), for any thread count.
Tensor maxpool2d_forward_values(const Tensor& x, const Pool2dGeometry& g);

}  // namespace xdnn::ops
