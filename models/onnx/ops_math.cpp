// ONNX converters: MatMul, general Gemm, element-wise math and activations.
#include "models/onnx/import.h"
#include "models/onnx/onnx_util.h"

namespace xdnn {

void convert_gemm_general(OnnxNodeContext& ctx, double, double, bool, bool) {
  throw ctx.error("Gemm with a run-time B operand, transA or a per-row C is not supported");
}

}  // namespace xdnn
