// Multi-head self-attention (Vaswani et al. 2017; PyTorch nn.MultiheadAttention, batch_first = True,
// query = key = value = x).
//   x: (N, T, E), h heads of size dh = E / h
//   [q k v] = x W_inᵀ + b_in          W_in `<name>.in_proj_weight` (3E, E), b_in `<name>.in_proj_bias` (3E)
//   S = q_h k_hᵀ / √dh + M            per head, (N, h, T, T); M = −∞ at masked (query, key) pairs
//   P = softmax(S) over keys,  O = P v_h, heads concatenated back to (N, T, E)
//   y = O W_outᵀ + b_out              `<name>.out_proj.weight` (E, E), `<name>.out_proj.bias` (E)
// Masks: causal (key j > query i is masked) and an optional key-padding mask input (N, T), int64 or
// float, nonzero = padding (PyTorch's True = ignore). A query whose keys are all masked gives NaN,
// as in PyTorch.
// Inputs {x [, key_padding_mask]}; outputs {y (N, T, E), P (N, h, T, T)} — the per-head attention
// weights for attention maps (PyTorch's default averages them over heads: mean over axis 1).
//
// LRP (AttnLRP, Achtibat et al. 2024), rule "epsilon": ε-rule on the linear projections (bias absorbed);
// the bilinear products q kᵀ and P v use the uniform rule — each product term's ε-share is split half
// and half between its two factors; softmax: R_S = S ⊙ (R_P − P ⊙ Σ_keys R_P) (their Prop. 3.1),
// masked entries get none.
// Rule "cp" (CP-LRP, Ali et al. 2022, "XAI for Transformers: Better Explanations through Conservative
// Propagation", §3.2): the attention probabilities P are treated as constants, so O = P v is linear in v
// and takes the ε-rule with all of each term's share going to v, R_v = v ⊙ Pᵀ(R_O / stab_ε(P v));
// nothing flows into the softmax / q kᵀ path (R_q = R_k = 0). Conserving up to the absorbed biases.
// intermediates(): {"attention", P (N, h, T, T)}.
#pragma once
#include "layers/layer.h"

namespace xdnn {

class MultiheadAttention : public Layer {
 public:
  MultiheadAttention(const std::string& name, int64_t embed_dim, int64_t num_heads, bool bias = true,
                     bool causal = false, DType dtype = DType::F32);
  // PyTorch's default: Xavier-uniform in_proj, U(±1/√E) out_proj, zero biases.
  void init(Rng& rng);

  const char* kind() const override { return "MultiheadAttention"; }
  std::vector<Param*> params() override;
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"epsilon", "cp"}; }
  std::vector<NamedValue> intermediates(const Saved& saved) const override;

  Param& in_proj_weight() { return in_w_; }
  Param& in_proj_bias() { return in_b_; }
  Param& out_proj_weight() { return out_w_; }
  Param& out_proj_bias() { return out_b_; }
  bool causal() const { return causal_; }
  int64_t num_heads() const { return h_; }

 private:
  int64_t E_, h_;
  bool causal_;
  Param in_w_, in_b_, out_w_, out_b_;
};

}  // namespace xdnn
