// MatMul: y = a @ b with NumPy matmul semantics (ONNX MatMul): a (..., M, K), b (..., K, N) ->
// (broadcast(...), M, N); a 1-D a is (1, K) with that axis dropped from y, a 1-D b is (K, 1) likewise.
// Both operands are run-time values here (attention scores, Q Kᵀ and P V); a MatMul with a constant
// weight is imported as Linear (LinearLike, every LRP rule).
// Compute: one ops::matmul_into per batch entry. Backward: ga = g bᵀ, gb = aᵀ g, summed over broadcast
// batch entries in index order (deterministic).
// LRP (AttnLRP, Achtibat et al. 2024, Prop. 3.3, the uniform rule for a bilinear product): every term
// a_ik b_kj of y_ij takes its ε-share of R_ij, half to each factor,
//   R_a = ½ a ⊙ (s bᵀ),  R_b = ½ b ⊙ (aᵀ s),  s = R / stab_ε(y),
// which conserves relevance up to ε. This is the rule the native attention layers apply to q kᵀ and P v,
// so an ONNX graph with decomposed attention gets AttnLRP too.
// CP-LRP (Ali et al. 2022, "conservative propagation"): when one operand is attention probabilities P
// (ONNX import marks a MatMul fed by a Softmax: probabilities_operand), O = P v is linear in v with P held
// constant and takes the ε-rule, R_v = v ⊙ Pᵀ(R / stab_ε(O)); P gets nothing, so nothing flows into the
// softmax or q kᵀ. The rule is named "cp", as in the native attention layers.
#pragma once
#include "layers/layer.h"

namespace xdnn {

class MatMul : public Layer {
 public:
  // probabilities_operand: 0 or 1 when that operand is attention probabilities (enables "cp"), else −1.
  explicit MatMul(int probabilities_operand = -1) : probabilities_operand(probabilities_operand) {}
  const char* kind() const override { return "MatMul"; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override {
    if (probabilities_operand >= 0) return {"epsilon", "cp"};
    return {"epsilon"};
  }
  int probabilities_operand = -1;
};

}  // namespace xdnn
