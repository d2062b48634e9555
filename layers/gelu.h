// GELU (Hendrycks & Gimpel 2016): y = x Φ(x), Φ the standard normal CDF (exact, via erf), or the tanh
// approximation 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))) (PyTorch approximate='tanh').
// Shapes: any. LRP: relevance passes unchanged, as for every element-wise activation (AttnLRP,
// Achtibat et al. 2024, identity rule for element-wise non-linearities).
#pragma once
#include "layers/layer.h"

namespace xdnn {

class GELU : public Layer {
 public:
  explicit GELU(bool tanh_approximation = false) : tanh_(tanh_approximation) {}
  const char* kind() const override { return "GELU"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x, Saved& saved, const ForwardOptions& opt) override;
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_y, const Saved& saved,
                               const BackwardOptions& opt) override;
  std::vector<Tensor> relevance(const std::vector<Tensor>& relevance_y, const Saved& saved, const Rule& rule) override {
    (void)saved, (void)rule;
    return {relevance_y.at(0)};
  }
  std::vector<std::string> relevance_rules() const override { return {"pass"}; }

 private:
  bool tanh_;
};

}  // namespace xdnn
