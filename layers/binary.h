// Binary: y = a ∘ b with NumPy broadcasting, ∘ one of Add, Sub, Mul, Div (ONNX Sub, Mul, Div, and Add
// where an operand is int64 shape arithmetic; float Add between activations is layers/add.h).
// Float operands go through ops::binary. int64 operands (the shape arithmetic of PyTorch exports:
// Gather(Shape(x)) / 2 ...) are computed here element by element, Div truncating toward zero as ONNX
// integer division does; they never receive gradients.
// Backward (float): Add g, g; Sub g, −g; Mul g·b, g·a; Div g/b, −g·a/b²; each summed back to its
// operand's shape (ops::sum_to_shape).
// LRP (rule "epsilon", s = R / stab_ε(y), every share summed back to its operand's shape):
//   one operand a constant (constant_operand: an ONNX initializer), y = x·c or x/c: linear in x, the
//     ε-rule gives x all of it, R_x = y ⊙ s (a scaling such as attention's 1/√d passes relevance on);
//   Mul of two activations: AttnLRP's uniform rule (Achtibat et al. 2024, Prop. 3.3), ½ y ⊙ s each;
//   Div of two activations: the divisor as a constant (as AttnLRP treats LayerNorm's std), R_a = y ⊙ s;
//   Sub: the ε-rule of a sum, R_a = a ⊙ s, R_b = −b ⊙ s (a constant's share is absorbed, as a bias's).
#pragma once
#include "engine/ops.h"
#include "engine/shape_util.h"
#include "layers/layer.h"

namespace xdnn {

class Binary : public Layer {
 public:
  // legacy_axis >= 0: ONNX opset < 7 `broadcast = 1, axis = k`: b's axes line up with a's axes from k on
  // (b is viewed with trailing size-1 axes added), instead of NumPy's alignment from the right.
  // constant_operand: 0 or 1 when that operand is a constant of the graph (only LRP uses it), else −1.
  explicit Binary(ops::Binary op, int64_t legacy_axis = -1, int constant_operand = -1)
      : op_(op), legacy_axis_(legacy_axis), constant_operand_(constant_operand) {}
  const char* kind() const override;
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override;

 private:
  Tensor align(const Tensor& a, const Tensor& b) const;  // b as broadcast against a
  ops::Binary op_;
  int64_t legacy_axis_;
  int constant_operand_;
};

}  // namespace xdnn
