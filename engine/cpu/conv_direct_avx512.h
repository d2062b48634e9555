// The 512-bit instantiation of the direct convolution forward (engine/cpu/conv_direct.h), compiled in its
// own file with -mavx512f like gemm_avx512.cpp; conv.cpp calls it only when the 512-bit GEMM kernel is
// selected (cpu::gemm_kernel(), so XDNN_GEMM=vec256 turns both off) and the rows hold a whole vector.
#pragma once
#include <cstdint>

#include "engine/ops.h"

namespace xdnn::cpu {

// Runs the forward and returns true when this build has the 512-bit kernel and OW fills one vector
// (16 floats / 8 doubles); else returns false and does nothing. Arguments as direct_conv_forward.
template <class T>
bool direct_conv_forward_avx512(const T* px, const T* pw, const T* pb, int64_t N, int64_t C, int64_t H, int64_t W,
                                int64_t O, int64_t KH, int64_t KW, int64_t OH, int64_t OW, const ops::Conv2dGeometry& g,
                                T* py);

}  // namespace xdnn::cpu
