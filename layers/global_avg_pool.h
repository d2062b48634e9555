// GlobalAvgPool: y[n, c] = mean over all spatial positions (ONNX GlobalAveragePool,
// PyTorch AdaptiveAvgPool2d(1)). x: (N, C, H, W) -> y: (N, C, 1, 1); also (N, C, L) -> (N, C, 1).
// LRP, rule "norm": R_in = x ⊙ Pᵀ(R / stab_δ(P x)) (golden README); linear-rule names select it too.
#pragma once
#include "layers/layer.h"

namespace xdnn {

class GlobalAvgPool : public Layer {
 public:
  const char* kind() const override { return "GlobalAvgPool"; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"norm"}; }
  // R-operator (layer.h; explain/influence/hvp.h): linear in x.
  ROperator r_operator() const override { return ROperator::LinearInInput; }
};

}  // namespace xdnn
