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
  std::vector<Tensor> forward(const std::vector<Tensor>& x, Saved& saved, const ForwardOptions& opt) override;
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_y, const Saved& saved,
                               const BackwardOptions& opt) override;
  std::vector<Tensor> relevance(const std::vector<Tensor>& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"pass"}; }

 private:
  int64_t axis_;
};

}  // namespace xdnn
