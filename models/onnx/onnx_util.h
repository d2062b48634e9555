// Small helpers shared by the ONNX converters (import-time bookkeeping on constants).
#pragma once
#include "models/onnx/import.h"

namespace xdnn {

// (a, b) -> (b, a) copy of a 2-D tensor (any dtype).
inline Tensor transpose2d(const Tensor& t) {
  Tensor out({t.dim(1), t.dim(0)}, t.dtype());
  for (int64_t i = 0; i < t.dim(0); ++i)
    for (int64_t j = 0; j < t.dim(1); ++j) out.set_item(j * t.dim(0) + i, t.item(i * t.dim(1) + j));
  return out;
}

// a · t as a new tensor (float).
inline Tensor scale_copy(const Tensor& t, double a) {
  Tensor out = t.clone();
  for (int64_t i = 0, i_end = out.numel(); i < i_end; ++i) out.set_item(i, a * t.item(i));
  return out;
}

// Gemm that is not a plain Linear (runtime B, transA, a C that varies by row): MatMul + scale + Add
// layers. Defined in ops_math.cpp.
void convert_gemm_general(OnnxNodeContext& ctx, double alpha, double beta, bool transA, bool transB);

}  // namespace xdnn
