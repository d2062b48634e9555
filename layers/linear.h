// Linear (fully connected): y = x Wᵀ + b.
//   x: (..., in)   W: (out, in)   b: (out)   y: (..., out)
// Same layout as PyTorch's nn.Linear and ONNX Gemm with transB = 1.
#pragma once
#include "layers/layer.h"

namespace xdnn {

class Linear : public Layer, public LinearLike {
 public:
  // Parameters named `<name>.weight` / `<name>.bias`; weights zero until initialised or loaded.
  Linear(const std::string& name, int64_t in_features, int64_t out_features, bool bias = true,
         DType dtype = DType::F32);
  // PyTorch's default: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
  void init(Rng& rng);

  const char* kind() const override { return "Linear"; }
  std::vector<Param*> params() override;
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  const LinearLike* as_linear() const override { return this; }

  // LinearLike
  const Tensor& weight() const override { return weight_.value; }
  const Tensor& bias() const override { return bias_.value; }
  const Tensor& saved_input(const Saved& saved) const override { return saved.tensor("x"); }
  Tensor linear_forward(const Tensor& x, const Tensor& W, const Tensor& b) const override;
  Tensor linear_backward_input(const Tensor& s, const Tensor& W, const Shape& x_shape) const override;

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  int64_t in_, out_;
  Param weight_, bias_;  // bias_.value undefined when bias == false
};

}  // namespace xdnn
