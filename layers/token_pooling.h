// Pooling a token sequence x: (N, T, d) to one vector per sample, y: (N, d).
//   MeanTokenPooling   y = (1/T) Σ_t x[:, t]  (ONNX ReduceMean over axis 1, as the golden transformer);
//                      with an optional lengths input (N) int64, the mean over the first lengths[n]
//                      tokens only.
//   FirstTokenPooling  y = x[:, 0] (a [CLS] token).
// LRP: mean pooling is linear — ε-rule with the pooling weights, R_x = x ⊙ w R / stab_ε(y) (rule
// "epsilon"); first-token pooling hands all relevance to token 0 (any rule).
#pragma once
#include "layers/layer.h"

namespace xdnn {

class MeanTokenPooling : public Layer {
 public:
  const char* kind() const override { return "MeanTokenPooling"; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"epsilon"}; }
};

class FirstTokenPooling : public Layer {
 public:
  const char* kind() const override { return "FirstTokenPooling"; }
  RelevancePass relevance_pass() const override { return RelevancePass::Backward; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  std::vector<std::string> relevance_rules() const override { return {"any (all relevance to token 0)"}; }
};

}  // namespace xdnn
