// MaxPool2d: y[n, c, oh, ow] = max over the window of (oh, ow) (padding acts as −∞).
//   x: (N, C, H, W) -> y: (N, C, OH, OW); 1-D input (N, C, L) is treated as (N, C, 1, L) and needs a
//   geometry with kernel_h = 1, stride_h = 1 and no vertical padding (see MaxPool2d::one_d).
// Backward: each window's gradient goes to the FIRST element, in row-major window order, equal to the
// window's maximum (exact float equality); the arg-max indices are computed in the forward pass and kept
// in Saved (golden README, "Gradients through MaxPool: ties"). A training forward of a 2x2 stride-2 window
// keeps each window's winning tap in 2 bits instead (ops::maxpool2d_forward_tap_codes), same routing.
//
// LRP (Montavon et al. 2019, "Layer-wise relevance propagation: an overview", §10.1 and §10.3):
//   "wta" (default)  winner takes all: R_out of a window goes to its first arg-max (as the gradient does).
//   "proportional"   max pooling treated like the sum pooling it approximates, i.e. the z⁺ rule with unit
//                    weights: R_i = Σ_{windows w ∋ i} x_i⁺ / stab_δ(Σ_{j∈w} x_j⁺) · R_w, δ = Rule::stabilizer.
//                    A window whose inputs are all ≤ 0 passes (almost) nothing on.
// Rule names meant for linear layers (epsilon, zplus, ...) select the default, "wta"; other names throw.
#pragma once
#include "engine/ops.h"
#include "layers/layer.h"

namespace xdnn {

class MaxPool2d : public Layer {
 public:
  // Square window, PyTorch style; stride 0 means stride = kernel (PyTorch's default).
  explicit MaxPool2d(int64_t kernel, int64_t stride = 0, int64_t padding = 0, int64_t dilation = 1,
                     bool ceil_mode = false);
  // Any geometry (rectangular windows, asymmetric ONNX pads).
  explicit MaxPool2d(const ops::Pool2dGeometry& geometry);
  // For 1-D input (N, C, L): window (1, kernel).
  static MaxPool2d one_d(int64_t kernel, int64_t stride = 0, int64_t padding = 0, int64_t dilation = 1,
                         bool ceil_mode = false);

  const char* kind() const override { return "MaxPool2d"; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"wta", "proportional"}; }
  // R-operator (layer.h; explain/influence/hvp.h): piecewise linear, R{y} = R{x} at the forward arg-max.
  ROperator r_operator() const override { return ROperator::PiecewiseLinear; }
  Tensors r_forward(const Tensors& rx, const Tensors& v, const Saved& saved) override;

  const ops::Pool2dGeometry& geometry() const { return geom_; }

 private:
  Tensor as_4d(const Tensor& x) const;
  ops::Pool2dGeometry geom_;
};

}  // namespace xdnn
