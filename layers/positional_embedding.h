// Positional embeddings added to a token sequence x: (N, T, d) -> y = x + P[:T], P: (max_len, d).
//   LearnedPositionalEmbedding     P is a parameter (its full name is given, e.g. "pos" or
//                                  "<name>.weight"); gradient: Σ over the batch of ∂L/∂y at rows < T.
//   SinusoidalPositionalEncoding   P[t, 2i] = sin(t / 10000^(2i/d)), P[t, 2i+1] = cos(t / 10000^(2i/d))
//                                  (Vaswani et al. 2017, §3.5); no parameters.
// LRP (rule "epsilon"): the sum is split in proportion to its summands, R_x = x ⊙ R / stab_ε(y) (the
// positional term's share is absorbed), as for a residual addition (AttnLRP, Achtibat et al. 2024).
#pragma once
#include "layers/layer.h"

namespace xdnn {

class LearnedPositionalEmbedding : public Layer {
 public:
  LearnedPositionalEmbedding(const std::string& param_name, int64_t max_len, int64_t dim, DType dtype = DType::F32);
  explicit LearnedPositionalEmbedding(Param table);  // (max_len, d)
  void init(Rng& rng);                               // N(0, 0.02²)

  const char* kind() const override { return "LearnedPositionalEmbedding"; }
  std::vector<Param*> params() override { return {&table_}; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"epsilon"}; }

 private:
  Param table_;
};

class SinusoidalPositionalEncoding : public Layer {
 public:
  const char* kind() const override { return "SinusoidalPositionalEncoding"; }
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"epsilon"}; }
  // The (T, d) table.
  static Tensor table(int64_t T, int64_t d, DType dtype);
};

}  // namespace xdnn
