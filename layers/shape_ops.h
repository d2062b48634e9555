// Layers for the shape arithmetic of exported graphs. They work on int64 tensors (or produce them), run
// per call so the batch axis stays dynamic (models/onnx/import.h), and pass no gradient except Cast
// between float types.
//   ShapeOf          y = int64 shape of x, optionally the axes [start, end) (ONNX Shape, start/end of opset 15)
//   ConstantOfShape  y = a tensor of shape `shape` (1-D int64 input 0) filled with the single element of
//                    input 1; the fill's dtype is the output dtype, so a float fill given as a model
//                    constant follows Model::to(F64)
//   Cast             y = x converted to `to`; to = "the float type of the model" is expressed by giving a
//                    float template tensor as input 1 (its dtype is used), for the same reason
#pragma once
#include "layers/layer.h"

namespace xdnn {

class ShapeOf : public Layer {
 public:
  ShapeOf(int64_t start = 0, int64_t end = INT64_MAX) : start_(start), end_(end) {}
  const char* kind() const override { return "Shape"; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;

 private:
  int64_t start_, end_;
};

class ConstantOfShape : public Layer {
 public:
  const char* kind() const override { return "ConstantOfShape"; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
};

class Cast : public Layer {
 public:
  explicit Cast(DType to) : to_(to) {}
  const char* kind() const override { return "Cast"; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;

 private:
  DType to_;
};

}  // namespace xdnn
