// Gather: ONNX Gather with a run-time data tensor: y = data indexed by int64 `indices` along `axis`
// (negative indices count from the end). Any dtype — int64 shape arithmetic (Gather(Shape(x), 0)) uses
// it too. The embedding case (data an initializer, axis 0) is layers/embedding.h instead.
// Backward: scatter-add into data's shape (fixed order); indices get none. LRP: the same ("pass").
#pragma once
#include "layers/layer.h"

namespace xdnn {

class Gather : public Layer {
 public:
  explicit Gather(int64_t axis) : axis_(axis) {}
  const char* kind() const override { return "Gather"; }
  RelevancePass relevance_pass() const override { return RelevancePass::Backward; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;

 private:
  int64_t axis_;
};

}  // namespace xdnn
