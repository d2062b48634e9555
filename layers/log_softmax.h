// LogSoftmax over one axis (default −1, the last; negative counts from the end): y = x − max − log Σ e^(x − max) along
// `axis` (numerically stable: the maximum along the axis is subtracted first; sums in double). Shapes: any; y has the
// shape of x. Backward: g_x = g_y − e^y ⊙ Σ_axis g_y from the saved output. No LRP rule: explanations start from the
// logits, before any (log-)softmax.
#pragma once
#include "layers/layer.h"

namespace xdnn {

class LogSoftmax : public Layer {
 public:
  explicit LogSoftmax(int axis = -1) : axis_(axis) {}
  const char* kind() const override { return "LogSoftmax"; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  int axis() const { return axis_; }

 private:
  int axis_;
};

}  // namespace xdnn
