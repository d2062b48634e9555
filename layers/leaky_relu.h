// LeakyReLU: y = x for x > 0, slope·x otherwise (PyTorch nn.LeakyReLU, ONNX LeakyRelu; default 0.01).
// Shapes: any; y has the shape of x.
//
// Backward modes (the ReLU definitions of layers/relu.h with the leaky derivative d(x) = [x > 0] + slope·[x ≤ 0]
// in place of the mask [x > 0]):
//   Gradient        g_x = g_y · d(x)
//   GuidedBackprop  g_x = max(g_y, 0) · d(x)
//   DeconvNet       g_x = max(g_y, 0)          (the forward pass is ignored, as for ReLU)
// LRP: relevance passes through unchanged ("pass"), like ReLU (Montavon et al. 2019, §10.1).
#pragma once
#include "layers/layer.h"

namespace xdnn {

class LeakyReLU : public Layer {
 public:
  explicit LeakyReLU(double slope = 0.01) : slope_(slope) {}
  const char* kind() const override { return "LeakyReLU"; }
  RelevancePass relevance_pass() const override { return RelevancePass::PassThrough; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  double slope() const { return slope_; }

 private:
  double slope_;
};

}  // namespace xdnn
