// MatMul: y = a @ b with NumPy matmul semantics (ONNX MatMul): a (..., M, K), b (..., K, N) ->
// (broadcast(...), M, N); a 1-D a is (1, K) with that axis dropped from y, a 1-D b is (K, 1) likewise.
// Both operands are run-time values here (attention scores, Q Kᵀ and P V); a MatMul with a constant
// weight is imported as Linear (LinearLike, every LRP rule).
// Compute: one ops::matmul_into per batch entry. Backward: ga = g bᵀ, gb = aᵀ g, summed over broadcast
// batch entries in index order (deterministic). No LRP rule (bilinear).
#pragma once
#include "layers/layer.h"

namespace xdnn {

class MatMul : public Layer {
 public:
  const char* kind() const override { return "MatMul"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x, Saved& saved, const ForwardOptions& opt) override;
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_y, const Saved& saved,
                               const BackwardOptions& opt) override;
};

}  // namespace xdnn
