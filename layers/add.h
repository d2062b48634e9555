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
  std::vector<Tensor> forward(const std::vector<Tensor>& x, Saved& saved, const ForwardOptions& opt) override;
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_y, const Saved& saved,
                               const BackwardOptions& opt) override;
  std::vector<Tensor> relevance(const std::vector<Tensor>& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"norm", "proportional"}; }
  // R-operator (layer.h; explain/influence/hvp.h): linear in (a, b).
  std::vector<Tensor> r_forward(const std::vector<Tensor>& rx, const std::vector<Tensor>& v,
                                const Saved& saved) override;
  std::vector<Tensor> r_backward(const std::vector<Tensor>& gy, const std::vector<Tensor>& rgy,
                                 const std::vector<Tensor>& rx, const std::vector<Tensor>& v, const Saved& saved,
                                 std::vector<Tensor>& rg_params) override;
};

}  // namespace xdnn
