// Dropout (inverted): in training y = x ⊙ m with m_i = 1/(1 − p) with probability 1 − p and 0 otherwise,
// drawn from ForwardOptions::rng in flat order (training without an rng is an error); in evaluation
// y = x. Backward: g ⊙ m (identity in evaluation). LRP: "pass" (explanations run in evaluation mode).
#pragma once
#include "layers/layer.h"

namespace xdnn {

class Dropout : public Layer {
 public:
  explicit Dropout(double p = 0.5);
  const char* kind() const override { return "Dropout"; }
  RelevancePass relevance_pass() const override { return RelevancePass::Backward; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  double p() const { return p_; }

 private:
  double p_;
};

}  // namespace xdnn
