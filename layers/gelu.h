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
  RelevancePass relevance_pass() const override { return RelevancePass::PassThrough; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;

 private:
  bool tanh_;
};

}  // namespace xdnn
