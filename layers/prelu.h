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
  std::vector<Param*> params() override { return {&slope_}; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x, Saved& saved, const ForwardOptions& opt) override;
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_y, const Saved& saved,
                               const BackwardOptions& opt) override;
  std::vector<Tensor> relevance(const std::vector<Tensor>& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"pass"}; }

 private:
  Shape slope_view(const Shape& x) const;  // the shape the slope broadcasts with against x
  Param slope_;
};

}  // namespace xdnn
