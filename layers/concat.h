// Concat: y = [x_0, x_1, ...] along `axis` (negative counts from the end; ONNX Concat). Any dtype.
// Split: the inverse, into pieces of the given sizes along `axis` (ONNX Split; equal pieces when the
// sizes are empty). Backward and LRP of each: the other one (relevance is only moved).
#pragma once
#include "layers/layer.h"

namespace xdnn {

class Concat : public Layer {
 public:
  explicit Concat(int64_t axis) : axis_(axis) {}
  const char* kind() const override { return "Concat"; }
  RelevancePass relevance_pass() const override { return RelevancePass::Backward; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;

 private:
  int64_t axis_;
};

class Split : public Layer {
 public:
  // sizes empty: `num_outputs` equal pieces; with ceil_chunks (ONNX Split-18 num_outputs) pieces of
  // ceil(d / num_outputs), the last one smaller when d does not divide.
  Split(int64_t axis, std::vector<int64_t> sizes, int64_t num_outputs, bool ceil_chunks = false)
      : axis_(axis), sizes_(std::move(sizes)), num_outputs_(num_outputs), ceil_chunks_(ceil_chunks) {}
  const char* kind() const override { return "Split"; }
  RelevancePass relevance_pass() const override { return RelevancePass::Backward; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;

 private:
  int64_t axis_;
  std::vector<int64_t> sizes_;
  int64_t num_outputs_;
  bool ceil_chunks_;
};

}  // namespace xdnn
