// Softmax over one axis (default −1, the last; negative counts from the end): y = e^(x − max) / Σ e^(x − max) along
// `axis` (numerically stable: the maximum along the axis is subtracted first; sums in double). Shapes: any; y has the
// shape of x. Backward: g_x = y ⊙ (g_y − Σ_axis y ⊙ g_y) from the saved output. No LRP rule: explanations start from
// the logits, before any (log-)softmax.
#pragma once
#include "layers/layer.h"

namespace xdnn {

class Softmax : public Layer {
 public:
  explicit Softmax(int axis = -1) : axis_(axis) {}
  const char* kind() const override { return "Softmax"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x, Saved& saved, const ForwardOptions& opt) override;
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_y, const Saved& saved,
                               const BackwardOptions& opt) override;
  int axis() const { return axis_; }

 private:
  int axis_;
};

}  // namespace xdnn
