// Flatten: merges axes [start_axis, end_axis] into one (PyTorch nn.Flatten; ONNX Flatten with axis = 1).
//   x: (N, C, H, W), start 1, end −1 -> y: (N, C·H·W). Negative axes count from the end.
// Backward and LRP: reshape back (relevance is unchanged, only its shape).
#pragma once
#include "layers/layer.h"

namespace xdnn {

class Flatten : public Layer {
 public:
  explicit Flatten(int start_axis = 1, int end_axis = -1) : start_(start_axis), end_(end_axis) {}

  const char* kind() const override { return "Flatten"; }
  RelevancePass relevance_pass() const override { return RelevancePass::Backward; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  std::vector<std::string> relevance_rules() const override { return {"reshape"}; }
  // R-operator (layer.h; explain/influence/hvp.h): linear in x.
  ROperator r_operator() const override { return ROperator::LinearInInput; }

  // Output shape for an input shape (throws naming the axes when they do not fit).
  Shape output_shape(const Shape& x_shape) const;
  int start_axis() const { return start_; }
  int end_axis() const { return end_; }

 private:
  int start_, end_;
};

}  // namespace xdnn
