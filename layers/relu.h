// ReLU: y = max(x, 0). Shapes: any; y has the shape of x.
//
// The three backward modes live here (the only layer family that reads BackwardMode):
//   Gradient        g_x = g_y · [x > 0]            (relu'(0) = 0)
//   GuidedBackprop  g_x = max(g_y, 0) · [x > 0]    (Springenberg et al. 2015, eq. in §3.4)
//   DeconvNet       g_x = max(g_y, 0)              (Zeiler & Fergus 2014: the forward mask is ignored)
// LRP: relevance passes through unchanged (Montavon et al. 2019, §10.1).
// A training forward also saves the bit mask [x > 0] (ops::relu_with_mask); the Gradient and
// GuidedBackprop passes then read it instead of x, with the same bits.
#pragma once
#include "layers/layer.h"

namespace xdnn {

class ReLU : public Layer {
 public:
  const char* kind() const override { return "ReLU"; }
  RelevancePass relevance_pass() const override { return RelevancePass::PassThrough; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  // R-operator (layer.h; explain/influence/hvp.h): piecewise linear, R{y} = R{x} ⊙ [x > 0].
  ROperator r_operator() const override { return ROperator::ElementwisePiecewiseLinear; }
};

}  // namespace xdnn
