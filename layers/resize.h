// Resize: nearest-neighbour or (multi-)linear interpolation along any axes (ONNX Resize 10-19 and
// Upsample 7-9; PyTorch's F.interpolate / nn.Upsample). x: (d0, d1, ...) -> y: (o0, o1, ...), with
// o_i = floor(d_i · scale_i) or the given sizes (then scale_i = o_i / d_i).
// Output coordinate x' maps to the input coordinate (ONNX coordinate_transformation_mode):
//   half_pixel           (x' + ½) / s − ½              pytorch_half_pixel  the same, 0 when o = 1
//   align_corners        x' (d − 1) / (o − 1), 0 when o = 1
//   asymmetric           x' / s                        tf_half_pixel_for_nearest  (x' + ½) / s
//   half_pixel_symmetric (d/2)(1 − o/(s d)) + (x' + ½) / s − ½   (opset 19)
// nearest: that coordinate rounded (nearest_mode round_prefer_floor / round_prefer_ceil / floor / ceil),
// clamped into [0, d − 1]. linear: i = floor(x), weights (1 − (x − i), x − i) on i, i + 1, each index
// clamped into [0, d − 1] (edge padding, as the ONNX reference does).
// y is a fixed linear map M x with non-negative weights (ops::resize). Backward: Mᵀ g (ops::resize_backward, a
// gather per input element in a fixed order: the same bits on any thread count and device). LRP ("norm", the
// z-rule of a linear map with positive weights): R_x = x ⊙ Mᵀ(R_y / stab(M x)) (Bach et al. 2015, eq. 56),
// conserving relevance.
#pragma once
#include <string>

#include "engine/ops_onnx.h"
#include "layers/layer.h"

namespace xdnn {

struct ResizeOptions {
  bool linear = false;                     // false: nearest
  std::string coordinates = "half_pixel";  // coordinate_transformation_mode
  std::string nearest_mode = "round_prefer_floor";
  std::vector<double> scales;  // per axis of `axes` (or of x when axes is empty), or empty
  std::vector<int64_t> sizes;  // per axis, or empty; one of scales / sizes is given,
                               // unless input 1 gives it at run time
  std::vector<int64_t> axes;   // the axes scales / sizes refer to; empty = all
  bool runtime_sizes = false;  // input 1 (int64) holds the sizes, per call
};

class Resize : public Layer {
 public:
  explicit Resize(ResizeOptions o);
  const char* kind() const override { return "Resize"; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"norm"}; }

 private:
  // Per axis of x: for each output index, two (input index, weight) taps (engine/ops_onnx.h).
  ops::ResizeTaps taps(const Shape& x_shape, const Tensors& x) const;
  ResizeOptions o_;
};

}  // namespace xdnn
