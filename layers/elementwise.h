// Elementwise: y = f(x) for one of the parameterised functions of ops::Pointwise (ONNX Exp, Log, Sqrt,
// Abs, Neg, Reciprocal, Elu, Selu, Softplus, Softsign, Pow by a constant exponent, Clip (ReLU6),
// HardSigmoid, HardSwish, Mish, and a fallback for Sigmoid / Tanh). Shapes: any; y has the shape of x.
// Backward: g ⊙ f'(x) (ops::pointwise_backward) in every BackwardMode: only the ReLU family reads it.
// Clip / ReLU6 is not in that family, as in Captum and Zennit, whose guided backprop and deconvnet
// replace the gradient of nn.ReLU only (torchvision's ReLU6 is a Hardtanh), so the peers' attributions
// of a MobileNetV2 are reproduced.
// LRP: for the activations (Elu, Selu, Softplus, Softsign, Sigmoid, Tanh, Clip, HardSigmoid, HardSwish,
// Mish) relevance passes through unchanged ("pass"), as for ReLU (Montavon et al. 2019, §10.1; Zennit's
// pass-through of activations); the other functions have no relevance rule and throw.
#pragma once
#include "engine/ops.h"
#include "layers/layer.h"

namespace xdnn {

class Elementwise : public Layer {
 public:
  explicit Elementwise(ops::Pointwise f, double a = 0, double b = 0) : f_(f), a_(a), b_(b) {}
  const char* kind() const override;
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override;
  ops::Pointwise function() const { return f_; }
  double a() const { return a_; }  // Clip: the lower bound
  double b() const { return b_; }  // Clip: the upper bound

 private:
  bool is_activation() const;
  ops::Pointwise f_;
  double a_, b_;
};

}  // namespace xdnn
