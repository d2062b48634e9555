// Sigmoid: y = σ(x) = 1 / (1 + e^(−x)), element-wise. Shapes: any; y has the shape of x.
// Backward: g ⊙ y ⊙ (1 − y) from the saved output y, in every BackwardMode (only the ReLU family reads the mode).
// LRP: relevance passes through unchanged ("pass"), as for the other element-wise activations.
#pragma once
#include "layers/layer.h"

namespace xdnn {

class Sigmoid : public Layer {
 public:
  const char* kind() const override { return "Sigmoid"; }
  RelevancePass relevance_pass() const override { return RelevancePass::PassThrough; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
};

}  // namespace xdnn
