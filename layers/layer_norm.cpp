#include "layers/layer_norm.h"

#include "engine/ops.h"
#include "engine/ops_fill.h"

namespace xdnn {

LayerNorm::LayerNorm(const std::string& name, Shape normalized_shape, double eps, bool affine, DType dtype)
    : normalized_shape_(std::move(normalized_shape)), d_(shape_numel(normalized_shape_)), eps_(eps) {
  if (normalized_shape_.empty() || d_ <= 0) throw Error(name + ": LayerNorm needs a non-empty normalized_shape");
  if (affine) {
    weight_ = {name + ".weight", Tensor::full(normalized_shape_, 1.0, dtype), {}};
    bias_ = {name + ".bias", Tensor(normalized_shape_, dtype), {}};
  }
}

LayerNorm::LayerNorm(Param weight, Param bias, double eps)
    : eps_(eps), weight_(std::move(weight)), bias_(std::move(bias)) {
  normalized_shape_ = weight_.value.shape();
  d_ = weight_.value.numel();
  if (bias_.value.defined() && bias_.value.shape() != normalized_shape_)
    throw Error("LayerNorm: bias " + bias_.value.describe() + " does not match weight " + weight_.value.describe());
}

std::vector<Param*> LayerNorm::params() {
  std::vector<Param*> out;
  if (weight_.value.defined()) out.push_back(&weight_);
  if (bias_.value.defined()) out.push_back(&bias_);
  return out;
}

Tensors LayerNorm::forward(const Tensors& in, Saved& saved, const ForwardOptions&) {
  const Tensor& x = in.at(0);
  ops::expect_float(x, "LayerNorm input");
  const int k = static_cast<int>(normalized_shape_.size());
  bool ok = x.ndim() >= k;
  for (int i = 0; ok && i < k; ++i) ok = x.shape()[x.ndim() - k + i] == normalized_shape_[i];
  if (!ok)
    throw Error("LayerNorm: expected input (..., " + shape_str(normalized_shape_).substr(1) + ", got " + x.describe());
  if (weight_.value.defined()) ops::expect_same_dtype(x, weight_.value, "LayerNorm input vs weight");
  Tensors r = ops::layer_norm_forward(x, d_, eps_);  // {xhat, rstd}
  Tensor y = r[0];
  if (weight_.value.defined()) y = ops::mul(y, weight_.value);
  if (bias_.value.defined()) y = ops::add(y, bias_.value);
  // saved: "x" and the output "y" (the LRP rule), "xhat" and "rstd" = 1 / std per row (backward).
  saved.put("x", x);
  saved.put("xhat", r[0]);
  saved.put("rstd", r[1]);
  saved.put("y", y);
  return {y};
}

Tensors LayerNorm::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) {
  const Tensor& g = grad_y.at(0);
  if (!g.defined()) return {Tensor()};
  const Tensor &x = saved.tensor("x"), &xhat = saved.tensor("xhat"), &rstd = saved.tensor("rstd");
  const int64_t rows = x.numel() / d_;
  if (opt.param_grad != ParamGrad::None) {
    const bool per = opt.param_grad == ParamGrad::PerExample;
    const int64_t N = x.dim(0), per_rows = rows / N;
    // Sum over rows (per example: over the sample's rows) of g ⊙ xhat and g.
    auto reduce = [&](const Tensor& t) {
      return per ? ops::sum_to_shape(t.reshape({N, per_rows, d_}), {N, 1, d_})
                 : ops::sum_to_shape(t.reshape({rows, d_}), {d_});
    };
    for (Param* p : {&weight_, &bias_}) {
      if (!p->value.defined()) continue;
      Tensor gp = reduce(p == &weight_ ? ops::mul(g, xhat) : g);
      Shape s = p->value.shape();
      if (per) s.insert(s.begin(), N);
      gp = gp.reshape(s);
      if (per || !p->grad.defined())
        p->grad = gp;
      else
        ops::add_inplace(p->grad, gp);
    }
  }
  const Tensor dxhat = weight_.value.defined() ? ops::mul(g, weight_.value) : g;
  return {ops::layer_norm_backward(dxhat, xhat, rstd)};
}

Tensors LayerNorm::relevance(const Tensors& ry, const Saved& saved, const Rule& rule) {
  if (rule.name != "epsilon")
    throw Error("layer kind LayerNorm has no LRP rule '" + rule.name + "'; it has: epsilon (AttnLRP, std as constant)");
  const Tensor& R = ry.at(0);
  const Tensor &x = saved.tensor("x"), &rstd = saved.tensor("rstd"), &y = saved.tensor("y");
  if (!R.defined()) return {Tensor()};
  const int64_t rows = x.numel() / d_;
  Tensor t = ops::div(R, ops::stabilize(y, rule.epsilon));  // s = R / stab(y)
  if (weight_.value.defined()) t = ops::mul(t, weight_.value);
  t = ops::mul(t.reshape({rows, d_}), rstd.reshape({rows, 1}));  // t = w ⊙ s · rstd
  // Aᵀt = rstd-scaled, centred: (I − 11ᵀ/D) t.
  return {ops::mul(x, ops::center_last_axis(t).reshape(x.shape()))};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExample make_ln(Rng& rng, Shape ns, Shape xs) {
  auto layer = std::make_shared<LayerNorm>("norm", ns, 1e-5, true, DType::F64);
  for (Param* p : layer->params()) ops::fill_uniform_inplace(p->value, 0.5, 1.5, rng);
  return LayerExample{layer, {random_tensor(xs, rng)}};
}
LayerExampleRegistration ln_last{{"LayerNorm/last-dim", [](Rng& rng) { return make_ln(rng, {5}, {2, 3, 5}); }}};
LayerExampleRegistration ln_two{{"LayerNorm/two-dims", [](Rng& rng) { return make_ln(rng, {2, 3}, {3, 2, 3}); }}};
}  // namespace
}  // namespace xdnn
