// Transpose: y.shape[i] = x.shape[perm[i]] (ONNX Transpose; empty perm reverses the axes). Any dtype.
// Backward and LRP: the inverse permutation (relevance is only moved).
#pragma once
#include "layers/layer.h"

namespace xdnn {

class Transpose : public Layer {
 public:
  explicit Transpose(std::vector<int64_t> perm) : perm_(std::move(perm)) {}
  const char* kind() const override { return "Transpose"; }
  std::vector<Tensor> forward(const std::vector<Tensor>& x, Saved& saved, const ForwardOptions& opt) override;
  std::vector<Tensor> backward(const std::vector<Tensor>& grad_y, const Saved& saved,
                               const BackwardOptions& opt) override;
  std::vector<Tensor> relevance(const std::vector<Tensor>& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"pass"}; }

 private:
  std::vector<int64_t> perm_for(int rank) const;
  std::vector<int64_t> perm_;
};

}  // namespace xdnn
