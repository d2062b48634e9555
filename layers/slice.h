// Slice: ONNX Slice (opset 10+ inputs starts, ends, [axes], [steps]; opset < 10 attributes). Any dtype.
// Per axis: start/end clamped as ONNX specifies (negative counts from the end; for a negative step the
// range runs backwards), y = x[start : end : step]. The bounds may arrive at run time as int64 inputs
// 1..4 (PyTorch computes them from Shape), else the stored ones are used.
// Backward and LRP: the gradient / relevance scattered back into zeros (ops::strided_slice_backward).
#pragma once
#include "layers/layer.h"

namespace xdnn {

class Slice : public Layer {
 public:
  Slice(std::vector<int64_t> starts, std::vector<int64_t> ends, std::vector<int64_t> axes, std::vector<int64_t> steps)
      : starts_(std::move(starts)), ends_(std::move(ends)), axes_(std::move(axes)), steps_(std::move(steps)) {}
  const char* kind() const override { return "Slice"; }
  RelevancePass relevance_pass() const override { return RelevancePass::Backward; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;

 private:
  std::vector<int64_t> starts_, ends_, axes_, steps_;
};

}  // namespace xdnn
