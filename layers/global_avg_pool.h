// GlobalAvgPool: y[n, c] = mean over all spatial positions (ONNX GlobalAveragePool,
// PyTorch AdaptiveAvgPool2d(1)). x: (N, C, H, W) -> y: (N, C, 1, 1); also (N, C, L) -> (N, C, 1).
// LRP, rule "norm": R_in = x ⊙ Pᵀ(R / stab_δ(P x)) (golden README); linear-rule names select it too.
#pragma once
#include "layers/layer.h"

namespace xdnn {

class GlobalAvgPool : public Layer {
 public:
  const char* kind() const override { return "GlobalAvgPool"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x, Saved& saved, const ForwardOptions& opt) override;
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_y, const Saved& saved,
                               const BackwardOptions& opt) override;
  std::vector<Tensor> relevance(const std::vector<Tensor>& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"norm"}; }
  // R-operator (layer.h; explain/influence/hvp.h): linear in x.
  std::vector<Tensor> r_forward(const std::vector<Tensor>& rx, const std::vector<Tensor>& v,
                                const Saved& saved) override;
  std::vector<Tensor> r_backward(const std::vector<Tensor>& gy, const std::vector<Tensor>& rgy,
                                 const std::vector<Tensor>& rx, const std::vector<Tensor>& v, const Saved& saved,
                                 std::vector<Tensor>& rg_params) override;
};

}  // namespace xdnn
