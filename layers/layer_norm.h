// LayerNorm (Ba et al. 2016; PyTorch nn.LayerNorm, ONNX LayerNormalization-17): normalisation over the
// trailing dimensions `normalized_shape` (D = their product elements per row), then an affine map:
//   y = (x − μ) · rstd ⊙ w + b,   μ = mean(x), rstd = 1/sqrt(var(x) + eps), var biased
//   x: (..., normalized_shape)   w, b: normalized_shape (`<name>.weight`, `<name>.bias`)
//
// LRP (AttnLRP, Achtibat et al. 2024, §3.3.2; Ali et al. 2022): the standard deviation is treated as a
// constant (identity rule through the division), which makes the layer linear in x:
//   y = A x + b,  A_jk = w_j · rstd · (δ_jk − 1/D)
// and the ε-rule is applied to that linear map, bias in the denominator (absorbed):
//   s = R / stab_ε(y),  t = w ⊙ s · rstd,  R_x = x ⊙ (t − mean(t))        (rule "epsilon")
// Without bias and with ε → 0 it conserves relevance: Σ R_x = Σ (x − μ) ⊙ t = Σ y ⊙ s = Σ R.
#pragma once
#include "layers/layer.h"

namespace xdnn {

class LayerNorm : public Layer {
 public:
  LayerNorm(const std::string& name, Shape normalized_shape, double eps = 1e-5, bool affine = true,
            DType dtype = DType::F32);
  // From existing weight / bias parameters (ONNX import); bias may have an undefined value.
  LayerNorm(Param weight, Param bias, double eps);

  const char* kind() const override { return "LayerNorm"; }
  std::vector<Param*> params() override;
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"epsilon"}; }

  double eps() const { return eps_; }
  Param& weight() { return weight_; }
  Param& bias() { return bias_; }

 private:
  Shape normalized_shape_;
  int64_t d_ = 0;
  double eps_;
  Param weight_, bias_;  // values undefined when not affine
};

}  // namespace xdnn
