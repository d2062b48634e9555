// Embedding: a lookup table. ids int64 (N, T) -> y (N, T, d) with y[n, t] = W[ids[n, t]].
//   W: (V, d), parameter `<name>.weight` (PyTorch nn.Embedding; ONNX Gather(W, ids) on axis 0).
// Backward: the ids get no gradient; ∂L/∂W is a scatter-add of ∂L/∂y into the rows that were read
// (per example: one scatter per sample, (N, V, d)). Explainers differentiate the embedding *output*
// (../shared/golden/README.md "Token models"), so no relevance flows into the ids: relevance() returns
// nothing for them (the rule "pass" stops here).
#pragma once
#include "layers/layer.h"

namespace xdnn {

class Embedding : public Layer {
 public:
  Embedding(const std::string& name, int64_t num_embeddings, int64_t dim, DType dtype = DType::F32);
  // Wraps an existing table (ONNX import), keeping its dtype.
  Embedding(const std::string& param_name, const Tensor& table);
  // PyTorch's default: N(0, 1).
  void init(Rng& rng);

  const char* kind() const override { return "Embedding"; }
  std::vector<Param*> params() override { return {&weight_}; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"any (relevance stops at the ids)"}; }

  int64_t num_embeddings() const { return weight_.value.dim(0); }
  int64_t dim() const { return weight_.value.dim(1); }

 private:
  Param weight_;
};

}  // namespace xdnn
