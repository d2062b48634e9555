// AvgPool2d: y = mean over each window (PyTorch nn.AvgPool2d, ONNX AveragePool).
//   x: (N, C, H, W) -> y: (N, C, OH, OW); 1-D input (N, C, L) is treated as (N, C, 1, L) and needs a
//   geometry with kernel_h = 1, stride_h = 1 and no vertical padding (see AvgPool2d::one_d).
// Divisor: with count_include_pad the window size clipped to the padded input (PyTorch's rule, which also
// shortens ceil_mode windows hanging past the padding), otherwise the number of real input elements.
//
// LRP, rule "norm" (golden README, "AveragePool"): R_in = x ⊙ Pᵀ(R / stab_δ(P x)), P the pooling map,
// δ = Rule::stabilizer, stab_δ(z) = z + δ·sign(z) with sign(0) = +1. Rule names meant for linear layers
// (epsilon, zplus, ...) select "norm" too; other names throw.
#pragma once
#include "engine/ops.h"
#include "layers/layer.h"

namespace xdnn {

class AvgPool2d : public Layer {
 public:
  // Square window, PyTorch style; stride 0 means stride = kernel.
  explicit AvgPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0, bool ceil_mode = false,
                     bool count_include_pad = true);
  // Any geometry (rectangular windows, asymmetric ONNX pads); dilation must be 1.
  AvgPool2d(const ops::Pool2dGeometry& geometry, bool count_include_pad);
  // For 1-D input (N, C, L): window (1, kernel).
  static AvgPool2d one_d(int64_t kernel, int64_t stride = 0, int64_t padding = 0, bool ceil_mode = false,
                         bool count_include_pad = true);

  const char* kind() const override { return "AvgPool2d"; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"norm"}; }
  // R-operator (layer.h; explain/influence/hvp.h): linear in x, R{y} = avgpool(R{x}).
  ROperator r_operator() const override { return ROperator::LinearInInput; }

  const ops::Pool2dGeometry& geometry() const { return geom_; }
  bool count_include_pad() const { return include_pad_; }

 private:
  Tensor as_4d(const Tensor& x) const;
  ops::PoolDivisor divisor() const;
  ops::Pool2dGeometry geom_;
  bool include_pad_;
};

}  // namespace xdnn
