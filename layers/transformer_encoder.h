// TransformerEncoderLayer (Vaswani et al. 2017; PyTorch nn.TransformerEncoderLayer, batch_first = True,
// inference: no dropout), composed of MultiheadAttention, LayerNorm, Linear and ReLU / GELU layers.
//   post-norm (norm_first = false):  x1 = LN1(x + SA(x)),     y = LN2(x1 + FF(x1))
//   pre-norm  (norm_first = true):   x1 = x + SA(LN1(x)),     y = x1 + FF(LN2(x1))
//   FF(u) = linear2(act(linear1(u))),  act = ReLU or GELU (exact)
// Parameters carry PyTorch's names under `<name>.`: self_attn.in_proj_weight, self_attn.in_proj_bias,
// self_attn.out_proj.weight/bias, linear1.weight/bias (F, E), linear2.weight/bias (E, F),
// norm1.weight/bias, norm2.weight/bias.
// Inputs {x (N, T, E) [, key_padding_mask (N, T)]}; output {y (N, T, E)}. The attention layer's causal
// flag gives a causal encoder. For attention maps, run a MultiheadAttention on its own.
//
// Every pass chains the sub-layers' own passes (their Saved states are packed one after another into
// this layer's Saved). LRP (rule "epsilon"): each sub-layer's epsilon rule (AttnLRP for attention and
// LayerNorm; ReLU / GELU pass relevance), and each residual sum a + b is split in proportion to its
// summands, R_a = a ⊙ R / stab_ε(a + b), R_b = b ⊙ R / stab_ε(a + b).
// Rule "cp" (CP-LRP, Ali et al. 2022): the same walk with the attention's "cp" rule (attention
// probabilities constant); LayerNorm's epsilon rule already divides by the detached standard deviation.
// intermediates(): the attention sub-layer's {"attention", P (N, h, T, T)}.
#pragma once
#include <memory>

#include "layers/gelu.h"
#include "layers/layer_norm.h"
#include "layers/linear.h"
#include "layers/multihead_attention.h"
#include "layers/relu.h"

namespace xdnn {

struct TransformerEncoderConfig {
  int64_t d_model = 16;
  int64_t num_heads = 2;
  int64_t dim_feedforward = 32;
  bool norm_first = false;  // pre-norm when true
  bool gelu = false;        // ReLU when false
  bool causal = false;
  double layer_norm_eps = 1e-5;
};

class TransformerEncoderLayer : public Layer {
 public:
  TransformerEncoderLayer(const std::string& name, const TransformerEncoderConfig& cfg, DType dtype = DType::F32);
  void init(Rng& rng);

  const char* kind() const override { return "TransformerEncoderLayer"; }
  std::vector<Param*> params() override;
  Tensors forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) override;
  Tensors backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) override;
  Tensors relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) override;
  std::vector<std::string> relevance_rules() const override { return {"epsilon", "cp"}; }
  std::vector<NamedValue> intermediates(const Saved& saved) const override;

  const TransformerEncoderConfig& config() const { return cfg_; }
  MultiheadAttention& self_attn() { return *attn_; }
  Linear& linear1() { return *lin1_; }
  Linear& linear2() { return *lin2_; }
  LayerNorm& norm1() { return *norm1_; }
  LayerNorm& norm2() { return *norm2_; }

 private:
  // One gradient-like pass (backward or relevance) over the sub-layers; see the .cpp.
  Tensors reverse(const Tensor& g, const Saved& saved, const BackwardOptions* bopt, const Rule* rule);

  TransformerEncoderConfig cfg_;
  std::shared_ptr<MultiheadAttention> attn_;
  std::shared_ptr<Linear> lin1_, lin2_;
  std::shared_ptr<LayerNorm> norm1_, norm2_;
  std::shared_ptr<Layer> act_;
};

}  // namespace xdnn
