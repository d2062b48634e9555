// Transpose: y.shape[i] = x.shape[perm[i]] (ONNX Transpose; empty perm reverses the axes). Any dtype.
// Backward and LRP: the inverse permutation (relevance is only moved).
#pragma once
#include "layers/layer.h"

namespace xdnn {

class Transpose : public Layer {
 public:
  explicit Transpose(std::vector<int64_t> perm) : perm_(std::move(perm)) {}
  const char* kind() const override { return "Transpose"; }
  RelevancePass relevance_pass() const override { return RelevancePass::Backward; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;

 private:
  std::vector<int64_t> perm_for(int rank) const;
  std::vector<int64_t> perm_;
};

}  // namespace xdnn
