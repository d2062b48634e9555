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
  std::vector<Tensor> forward(const std::vector<Tensor>& x, Saved& saved, const ForwardOptions& opt) override;
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_y, const Saved& saved,
                               const BackwardOptions& opt) override;
  std::vector<Tensor> relevance(const std::vector<Tensor>& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"pass"}; }
  double p() const { return p_; }

 private:
  double p_;
};

}  // namespace xdnn
