// Softmax over one axis (default −1, the last; negative counts from the end): y = e^(x − max) / Σ e^(x − max) along
// `axis` (numerically stable: the maximum along the axis is subtracted first; sums in double). Shapes: any; y has the
// shape of x. Backward: g_x = y ⊙ (g_y − Σ_axis y ⊙ g_y) from the saved output.
// LRP (AttnLRP, Achtibat et al. 2024, Prop. 3.1, a Taylor decomposition at x with the bias term dropped):
//   R_x = x ⊙ (R_y − y ⊙ Σ_axis R_y).
// It does not conserve relevance (the dropped term carries the rest). Classifier explanations start from
// the logits, before any (log-)softmax; this rule is for the softmax inside decomposed attention.
#pragma once
#include "layers/layer.h"

namespace xdnn {

class Softmax : public Layer {
 public:
  explicit Softmax(int axis = -1) : axis_(axis) {}
  const char* kind() const override { return "Softmax"; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"epsilon"}; }
  int axis() const { return axis_; }

 private:
  int axis_;
};

}  // namespace xdnn
