// Compare: element-wise comparisons and logic with NumPy broadcasting, giving 0 / 1 as int64 (xdnn's
// boolean, read by Where): ONNX Equal, Less, Greater, LessOrEqual, GreaterOrEqual, And, Or, Xor (two
// operands) and Not (one). Operands: any dtype, compared as double (int64 shape values are exact
// below 2^53); logic ops read "non-zero" as true.
// No gradient flows through a comparison (its output is piecewise constant), and no relevance: the
// layer is part of the mask / index computations of exported Transformers, which the explainers skip
// (Model::reverse_walk does not visit int64 values).
#pragma once
#include "layers/layer.h"

namespace xdnn {

class Compare : public Layer {
 public:
  enum class Op { Equal, Less, Greater, LessOrEqual, GreaterOrEqual, And, Or, Xor, Not };
  explicit Compare(Op op) : op_(op) {}
  const char* kind() const override;
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;

 private:
  Op op_;
};

// Mod: y = a mod b with broadcasting (ONNX Mod): fmod = 0 the sign of the divisor (Python's %, integer
// operands), fmod = 1 the sign of the dividend (C fmod). int64 operands stay int64 (the position and
// window arithmetic of exported ViT / Swin / Transformer graphs); a zero divisor is an error. Float
// gradient: g to a, −g·q to b with q = floor(a / b) (trunc for fmod), summed back over broadcast axes.
// No relevance rule (not a layer relevance flows through).
class Mod : public Layer {
 public:
  explicit Mod(bool fmod) : fmod_(fmod) {}
  const char* kind() const override { return "Mod"; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;

 private:
  bool fmod_;
};

// Range: y = start, start + delta, ... while below limit (above it for delta < 0), ONNX Range;
// length max(ceil((limit − start) / delta), 0). Inputs are scalars of one dtype (int64 or float); the
// output has that dtype. No gradient (positions from torch.arange feed an embedding as indices).
class Range : public Layer {
 public:
  const char* kind() const override { return "Range"; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
};

}  // namespace xdnn
