// Add: y = a + b with NumPy broadcasting (residual sums; ONNX Add between two activations).
// Backward: each gradient is summed back to its input's shape (ops::sum_to_shape, fixed order).
// LRP, rule "norm" (alias "proportional"; golden README, "Residual Add"): relevance split in proportion to
// the summands, R_a = a ⊙ R / stab_δ(a + b), R_b = b ⊙ R / stab_δ(a + b), summed back to each input's
// shape where it was broadcast. δ = Rule::stabilizer. Linear-rule names (epsilon, ...) select it too.
#pragma once
#include "layers/layer.h"

namespace xdnn {

class Add : public Layer {
 public:
  const char* kind() const override { return "Add"; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"norm", "proportional"}; }
  // R-operator (layer.h; explain/influence/hvp.h): linear in (a, b).
  ROperator r_operator() const override { return ROperator::PiecewiseLinear; }
  Tensors r_forward(const Tensors& rx, const Tensors& v, const Saved& saved) override;
};

}  // namespace xdnn
