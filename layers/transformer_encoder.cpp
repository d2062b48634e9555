#include "layers/transformer_encoder.h"

#include "engine/ops.h"
#include "engine/ops_fill.h"

namespace xdnn {

namespace {

// The sub-layers, whose saved state is kept under these names in the layer's Saved (Saved::put_sub).
enum Sub { kAttn = 0, kNorm1, kLin1, kAct, kLin2, kNorm2, kSubs };
const char* const kSubName[kSubs] = {"attn", "norm1", "linear1", "activation", "linear2", "norm2"};

// Relevance of a sum a + b split in proportion to the summands.
Tensors split_sum(const Tensor& R, const Tensor& a, const Tensor& b, double eps) {
  const Tensor s = ops::div(R, ops::stabilize(ops::add(a, b), eps));
  return {ops::mul(a, s), ops::mul(b, s)};
}

Tensor sum_defined(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  return ops::add(a, b);
}

}  // namespace

TransformerEncoderLayer::TransformerEncoderLayer(const std::string& name, const TransformerEncoderConfig& cfg,
                                                 DType dtype)
    : cfg_(cfg) {
  attn_ =
      std::make_shared<MultiheadAttention>(name + ".self_attn", cfg.d_model, cfg.num_heads, true, cfg.causal, dtype);
  lin1_ = std::make_shared<Linear>(name + ".linear1", cfg.d_model, cfg.dim_feedforward, true, dtype);
  lin2_ = std::make_shared<Linear>(name + ".linear2", cfg.dim_feedforward, cfg.d_model, true, dtype);
  norm1_ = std::make_shared<LayerNorm>(name + ".norm1", Shape{cfg.d_model}, cfg.layer_norm_eps, true, dtype);
  norm2_ = std::make_shared<LayerNorm>(name + ".norm2", Shape{cfg.d_model}, cfg.layer_norm_eps, true, dtype);
  if (cfg.gelu)
    act_ = std::make_shared<GELU>(false);
  else
    act_ = std::make_shared<ReLU>();
}

void TransformerEncoderLayer::init(Rng& rng) {
  attn_->init(rng);
  lin1_->init(rng);
  lin2_->init(rng);
}

std::vector<Param*> TransformerEncoderLayer::params() {
  std::vector<Param*> out;
  for (Layer* l : std::initializer_list<Layer*>{attn_.get(), lin1_.get(), lin2_.get(), norm1_.get(), norm2_.get()})
    for (Param* p : l->params()) out.push_back(p);
  return out;
}

Tensors TransformerEncoderLayer::forward(const Tensors& in, Saved& saved, const ForwardOptions& opt) {
  const Tensor& x = in.at(0);
  Saved* s[kSubs];
  for (int k = 0; k < kSubs; ++k) s[k] = &saved.put_sub(kSubName[k]);
  Tensors attn_in = {x};
  if (in.size() > 1) attn_in.push_back(in[1]);
  Tensor r1a, r1b, r2a, r2b, y;
  if (!cfg_.norm_first) {
    const Tensor sa = attn_->forward(attn_in, *s[kAttn], opt)[0];
    r1a = x, r1b = sa;
    const Tensor x1 = norm1_->forward({ops::add(x, sa)}, *s[kNorm1], opt)[0];
    const Tensor ff =
        lin2_->forward(act_->forward(lin1_->forward({x1}, *s[kLin1], opt), *s[kAct], opt), *s[kLin2], opt)[0];
    r2a = x1, r2b = ff;
    y = norm2_->forward({ops::add(x1, ff)}, *s[kNorm2], opt)[0];
  } else {
    attn_in[0] = norm1_->forward({x}, *s[kNorm1], opt)[0];
    const Tensor sa = attn_->forward(attn_in, *s[kAttn], opt)[0];
    r1a = x, r1b = sa;
    const Tensor x1 = ops::add(x, sa);
    const Tensor u = norm2_->forward({x1}, *s[kNorm2], opt)[0];
    const Tensor ff =
        lin2_->forward(act_->forward(lin1_->forward({u}, *s[kLin1], opt), *s[kAct], opt), *s[kLin2], opt)[0];
    r2a = x1, r2b = ff;
    y = ops::add(x1, ff);
  }
  // saved: besides the sub-layers' state, the summands of the two residual sums (LRP splits relevance in
  // proportion to them) and the number of "inputs" (the padding mask gets no gradient).
  saved.put("sum1_a", r1a);
  saved.put("sum1_b", r1b);
  saved.put("sum2_a", r2a);
  saved.put("sum2_b", r2b);
  saved.set_int("inputs", static_cast<int64_t>(in.size()));
  return {y};
}

// The reverse pass, shared by backward (bopt set) and relevance (rule set): the same graph walked with
// each sub-layer's backward or relevance, and residual sums either copying the gradient to both
// summands or splitting relevance in proportion.
Tensors TransformerEncoderLayer::reverse(const Tensor& g, const Saved& saved, const BackwardOptions* bopt,
                                         const Rule* rule) {
  const Saved* s[kSubs];
  for (int k = 0; k < kSubs; ++k) s[k] = &saved.sub(kSubName[k]);
  // Under "cp" only the attention changes its rule; the other sub-layers take the epsilon rule.
  Rule sub_rule = rule ? *rule : Rule{};
  if (rule && rule->name == "cp") sub_rule.name = "epsilon";
  const Tensor &r1a = saved.tensor("sum1_a"), &r1b = saved.tensor("sum1_b");
  const Tensor &r2a = saved.tensor("sum2_a"), &r2b = saved.tensor("sum2_b");
  auto run = [&](Layer& l, int k, const Tensor& t) -> Tensor {
    if (!t.defined()) return Tensor();
    return bopt ? l.backward({t}, *s[k], *bopt).at(0) : l.relevance({t}, *s[k], sub_rule).at(0);
  };
  auto sum_rev = [&](const Tensor& t, const Tensor& a, const Tensor& b) -> Tensors {
    if (bopt || !t.defined()) return {t, t};
    return split_sum(t, a, b, rule->epsilon);
  };
  auto ff = [&](const Tensor& t) { return run(*lin1_, kLin1, run(*act_, kAct, run(*lin2_, kLin2, t))); };
  auto attn = [&](const Tensor& t) -> Tensor {
    if (!t.defined()) return Tensor();
    return bopt ? attn_->backward({t, Tensor()}, *s[kAttn], *bopt).at(0)
                : attn_->relevance({t, Tensor()}, *s[kAttn], *rule).at(0);
  };
  Tensor gx;
  if (!cfg_.norm_first) {
    const Tensor g2 = run(*norm2_, kNorm2, g);
    const Tensors r2 = sum_rev(g2, r2a, r2b);
    const Tensor gx1 = sum_defined(r2[0], ff(r2[1]));
    const Tensor g1 = run(*norm1_, kNorm1, gx1);
    const Tensors r1 = sum_rev(g1, r1a, r1b);
    gx = sum_defined(r1[0], attn(r1[1]));
  } else {
    const Tensors r2 = sum_rev(g, r2a, r2b);
    const Tensor gx1 = sum_defined(r2[0], run(*norm2_, kNorm2, ff(r2[1])));
    const Tensors r1 = sum_rev(gx1, r1a, r1b);
    gx = sum_defined(r1[0], run(*norm1_, kNorm1, attn(r1[1])));
  }
  Tensors out(saved.get_int("inputs"));
  out[0] = gx;
  return out;
}

Tensors TransformerEncoderLayer::backward(const Tensors& gy, const Saved& saved, const BackwardOptions& opt) {
  return reverse(gy.at(0), saved, &opt, nullptr);
}

Tensors TransformerEncoderLayer::relevance(const Tensors& ry, const Saved& saved, const Rule& rule) {
  if (rule.name != "epsilon" && rule.name != "cp")
    throw Error("layer kind TransformerEncoderLayer has no LRP rule '" + rule.name +
                "'; it has: epsilon (AttnLRP), cp (CP-LRP)");
  return reverse(ry.at(0), saved, nullptr, &rule);
}

std::vector<NamedValue> TransformerEncoderLayer::intermediates(const Saved& saved) const {
  if (!saved.has(kSubName[kAttn])) return {};
  return attn_->intermediates(saved.sub(kSubName[kAttn]));
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExample make_encoder(Rng& rng, bool norm_first, bool gelu, bool causal) {
  TransformerEncoderConfig cfg{4, 2, 6, norm_first, gelu, causal, 1e-5};
  auto layer = std::make_shared<TransformerEncoderLayer>("layers.0", cfg, DType::F64);
  layer->init(rng);
  for (Param* p : layer->params()) {
    Tensor shift(p->value.shape(), p->value.dtype());
    ops::fill_uniform_inplace(shift, -0.3, 0.3, rng);
    ops::add_inplace(p->value, shift);
  }
  return LayerExample{layer, {random_tensor({2, 3, 4}, rng)}};
}
LayerExampleRegistration enc_post{{"TransformerEncoderLayer/post-norm-relu",
                                   [](Rng& rng) { return make_encoder(rng, false, false, false); },
                                   /*has_kinks=*/true}};
LayerExampleRegistration enc_pre{
    {"TransformerEncoderLayer/pre-norm-gelu-causal", [](Rng& rng) { return make_encoder(rng, true, true, true); }}};
}  // namespace
}  // namespace xdnn
