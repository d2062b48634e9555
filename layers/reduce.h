// Reduce: y = Σ / max / min / Π of x over `axes` (all axes when empty), the reduced axes kept as size 1
// when keepdims (ONNX ReduceSum, ReduceMax, ReduceMin, ReduceProd; ReduceMean is layers/reduce_mean.h).
// x: any shape, float or int64 (the int64 ones are the shape arithmetic of exported graphs, e.g.
// ReduceProd of a Shape); every output is computed over its elements in ascending index order, so the
// bits do not depend on threads.
// Backward (float): Sum g broadcast back; Max / Min g to the first extreme element of each reduced group
// (ties as max pooling breaks them); Prod g · Π_{j≠i} x_j (exact with zeros).
// LRP: Sum is linear: the z-rule ("norm"), R_i = x_i / stab(y) · R_y; Max / Min winner takes all ("wta",
// as max pooling); Prod has no rule defined (the one-line error names the layer).
// GlobalMaxPool (ONNX) is Reduce Max with first_axis = 2: every axis from 2 on, kept (kind "GlobalMaxPool").
#pragma once
#include "layers/layer.h"

namespace xdnn {

class Reduce : public Layer {
 public:
  enum class Op { Sum, Max, Min, Prod };
  Reduce(Op op, std::vector<int64_t> axes, bool keepdims, int64_t first_axis = -1)
      : op_(op), axes_(std::move(axes)), keepdims_(keepdims), first_axis_(first_axis) {}
  const char* kind() const override;
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override;

 private:
  Shape kept_shape(const Shape& x) const;  // x's shape with the reduced axes set to 1
  Op op_;
  std::vector<int64_t> axes_;
  bool keepdims_;
  int64_t first_axis_;  // >= 0: reduce every axis from this one on (axes_ unused)
};

}  // namespace xdnn
