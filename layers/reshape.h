// Reshape-like layers: the output holds the input's elements in the same (row-major) order, only the
// shape changes. ONNX Reshape, Flatten (to 2-D), Squeeze, Unsqueeze, and Identity.
//   Reshape    spec entries: d > 0 that size, 0 copies the input's size at that axis (unless
//              allowzero), -1 is inferred (ONNX Reshape-5/13/14).
//   Flatten2D  (d0 .. d_{a-1}, d_a .. d_{n-1}) -> (Π d_<a, Π d_≥a) (ONNX Flatten, axis a; always 2-D).
//   Squeeze    removes the listed axes (all size-1 axes when the list is empty).
//   Unsqueeze  inserts size-1 axes at the listed positions of the output.
// The spec may instead arrive at run time as a second int64 input (ONNX Reshape's `shape`, or the
// `axes` input of Squeeze/Unsqueeze-13) — that is how shapes computed from a dynamic batch flow in.
// Any dtype (int64 shape arithmetic passes through too). Backward and LRP: reshape back (relevance is
// unchanged, only its shape). Identity: y = x.
#pragma once
#include "layers/layer.h"

namespace xdnn {

class Reshape : public Layer {
 public:
  enum class Kind { Reshape, Flatten2D, Squeeze, Unsqueeze };
  // `spec`: target shape (Reshape), axes (Squeeze/Unsqueeze), or {axis} (Flatten2D). Ignored when a
  // second input is given at run time.
  Reshape(Kind kind, std::vector<int64_t> spec, bool allowzero = false)
      : kind_(kind), spec_(std::move(spec)), allowzero_(allowzero) {}

  const char* kind() const override;
  RelevancePass relevance_pass() const override { return RelevancePass::Backward; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  std::vector<std::string> relevance_rules() const override { return {"reshape"}; }

  // Output shape for an input shape and a spec (throws naming what does not fit).
  Shape output_shape(const Shape& x_shape, const std::vector<int64_t>& spec) const;

 private:
  Kind kind_;
  std::vector<int64_t> spec_;
  bool allowzero_;
};

class Identity : public Layer {
 public:
  const char* kind() const override { return "Identity"; }
  RelevancePass relevance_pass() const override { return RelevancePass::PassThrough; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
};

// Reads a 0-d or 1-d int64 tensor into a vector (shape and axes inputs). `what` names it in errors.
std::vector<int64_t> int_list(const Tensor& t, const char* what);

}  // namespace xdnn
