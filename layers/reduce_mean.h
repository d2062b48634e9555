// ReduceMean: mean over `axes` (all axes when empty), keeping them as size 1 when keepdims (ONNX
// ReduceMean; axes an attribute before opset 18). Float tensors; sums in a fixed order (ops::sum_to_shape).
// Backward: g / count broadcast back. LRP: as the linear map it is — relevance split in proportion to the
// contributions x_i / (count · y) ("norm", the stabilised z-rule with unit weights; δ = Rule::stabilizer).
#pragma once
#include "layers/layer.h"

namespace xdnn {

class ReduceMean : public Layer {
 public:
  ReduceMean(std::vector<int64_t> axes, bool keepdims) : axes_(std::move(axes)), keepdims_(keepdims) {}
  const char* kind() const override { return "ReduceMean"; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"norm"}; }

 private:
  Shape kept_shape(const Shape& x) const;  // x's shape with the reduced axes set to 1
  std::vector<int64_t> axes_;
  bool keepdims_;
};

}  // namespace xdnn
