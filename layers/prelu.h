// PRelu: y = x for x > 0, slope ⊙ x otherwise (ONNX PRelu, PyTorch nn.PReLU).
//   x: (N, C, ...)   slope: broadcastable to x (ONNX unidirectional broadcasting), or (C) meaning one
//   slope per channel of axis 1 (old exports), or (1) shared. Parameter keeps its initializer name.
// Backward: g ⊙ ([x > 0] + slope ⊙ [x ≤ 0]); ∂L/∂slope = Σ g ⊙ min(x, 0) summed to the slope's shape
// (per example: the same sum per sample). LRP: "pass" (an activation, Montavon et al. 2019 §10.1).
#pragma once
#include "layers/layer.h"

namespace xdnn {

class PRelu : public Layer {
 public:
  explicit PRelu(Param slope) : slope_(std::move(slope)) {}
  const char* kind() const override { return "PRelu"; }
  RelevancePass relevance_pass() const override { return RelevancePass::PassThrough; }
  std::vector<Param*> params() override { return {&slope_}; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;

 private:
  Shape slope_view(const Shape& x) const;  // the shape the slope broadcasts with against x
  Param slope_;
};

}  // namespace xdnn
