#include "layers/batchnorm2d.h"

#include "engine/ops.h"

namespace xdnn {

BatchNorm2d::BatchNorm2d(const std::string& name, int64_t num_features, double eps, double momentum, DType dtype)
    : name_(name), C_(num_features), eps_(eps), momentum_(momentum) {
  if (num_features < 1) throw Error("BatchNorm2d " + name + ": num_features must be >= 1");
  weight_ = {name + ".weight", Tensor::full({num_features}, 1.0, dtype), {}};
  bias_ = {name + ".bias", Tensor({num_features}, dtype), {}};
  running_mean_ = {name + ".running_mean", Tensor({num_features}, dtype), {}};
  running_var_ = {name + ".running_var", Tensor::full({num_features}, 1.0, dtype), {}};
}

// saved: {x, mean, var, training flag (1 element)} with the statistics the output was computed from.
Tensors BatchNorm2d::forward(const Tensors& x, Saved& saved, const ForwardOptions& opt) {
  const Tensor& in = x.at(0);
  if (!in.defined() || !in.is_float() || in.ndim() < 2 || in.dim(1) != C_)
    throw Error("BatchNorm2d " + name_ + ": expected input (N, " + std::to_string(C_) + ", H, W), got " +
                (in.defined() ? in.describe() : std::string("an undefined tensor")));
  if (in.dtype() != weight_.value.dtype())
    throw Error("BatchNorm2d " + name_ + ": input " + in.describe() + " does not match the " +
                dtype_name(weight_.value.dtype()) + " parameters");
  // Buffers follow the parameters' dtype (a model converted with Model::to may not know about buffers).
  for (Param* b : buffers())
    if (b->value.dtype() != in.dtype()) b->value = b->value.to(in.dtype());
  Tensor mean, var;
  if (opt.training) {
    const int64_t M = in.numel() / C_;
    if (M < 2)
      throw Error("BatchNorm2d " + name_ + ": training needs more than 1 value per channel, got input " +
                  in.describe());
    Tensors st = ops::batchnorm_stats(in);
    mean = st[0];
    var = st[1];
    const double unbias = static_cast<double>(M) / static_cast<double>(M - 1);
    Tensor rm = ops::add(ops::scale(running_mean_.value, 1.0 - momentum_), ops::scale(mean, momentum_));
    Tensor rv = ops::add(ops::scale(running_var_.value, 1.0 - momentum_), ops::scale(var, momentum_ * unbias));
    running_mean_.value.copy_from(rm);
    running_var_.value.copy_from(rv);
    ++batches_;
  } else {
    mean = running_mean_.value.clone();  // a later training call updates the running buffers in place
    var = running_var_.value.clone();
  }
  // saved: "x", the "mean" and "var" it was normalised with (batch or running statistics), and whether
  // they were batch statistics ("training": backward then differentiates through them).
  saved.put("x", in);
  saved.put("mean", mean);
  saved.put("var", var);
  saved.set_int("training", opt.training ? 1 : 0);
  return {ops::batchnorm_forward(in, mean, var, weight_.value, bias_.value, eps_)};
}

Tensors BatchNorm2d::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions& opt) {
  if (!grad_y.at(0).defined()) return {Tensor()};
  const Tensor& x = saved.tensor("x");
  const bool training = saved.get_int("training") != 0;
  const bool per_example = opt.param_grad == ParamGrad::PerExample;
  Tensors g = ops::batchnorm_backward(grad_y[0], x, saved.tensor("mean"), saved.tensor("var"), weight_.value, eps_,
                                      training, per_example);
  if (opt.param_grad == ParamGrad::Accumulate) {
    if (!weight_.grad.defined())
      weight_.grad = Tensor(weight_.value.shape(), weight_.value.dtype(), weight_.value.device());
    if (!bias_.grad.defined()) bias_.grad = Tensor(bias_.value.shape(), bias_.value.dtype(), bias_.value.device());
    ops::add_inplace(weight_.grad, g[1]);
    ops::add_inplace(bias_.grad, g[2]);
  } else if (per_example) {
    weight_.grad = g[1];
    bias_.grad = g[2];
  }
  return {g[0]};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
std::shared_ptr<BatchNorm2d> random_bn(Rng& rng) {
  auto bn = std::make_shared<BatchNorm2d>("bn", 3, 1e-5, 0.1, DType::F64);
  bn->weight_param().value = random_tensor({3}, rng, 0.5, 1.5);
  bn->bias_param().value = random_tensor({3}, rng);
  bn->running_mean_param().value = random_tensor({3}, rng);
  bn->running_var_param().value = random_tensor({3}, rng, 0.5, 2.0);
  return bn;
}
LayerExampleRegistration bn_train{{"BatchNorm2d/training", [](Rng& rng) {
                                     LayerExample ex{random_bn(rng), {random_tensor({3, 3, 2, 3}, rng)}};
                                     ex.forward_options.training = true;
                                     return ex;
                                   }}};
LayerExampleRegistration bn_eval{{"BatchNorm2d/eval", [](Rng& rng) {
                                    return LayerExample{random_bn(rng), {random_tensor({3, 3, 2, 3}, rng)}};
                                  }}};
}  // namespace
}  // namespace xdnn

namespace xdnn {

// R-operator (Pearlmutter 1994) in evaluation mode, where y = γ x̂ + β with x̂ = (x − μ)/σ, σ = sqrt(var + eps)
// from the running statistics (affine in x, linear in (γ, β)):
//   R{y}   = γ/σ R{x} + V_γ x̂ + V_β
//   R{g_x} = γ/σ R{g_y} + V_γ/σ g_y
//   R{g_γ} = Σ R{g_y} x̂ + Σ g_y R{x}/σ,   R{g_β} = Σ R{g_y}
// Each term is one engine batch-norm call with substituted (x, μ, γ, β).
Tensors BatchNorm2d::r_forward(const Tensors& rx, const Tensors& v, const Saved& saved) {
  const Tensor& x = saved.tensor("x");
  const Tensor &mean = saved.tensor("mean"), &var = saved.tensor("var");
  if (saved.get_int("training") != 0)
    throw Error("BatchNorm2d '" + name_ + "': the R-operator needs evaluation mode (running statistics)");
  const Tensor zeros(mean.shape(), x.dtype());
  Tensor Ry;
  const bool has_v = v.size() == 2 && (v[0].defined() || v[1].defined());
  if (has_v)
    Ry = ops::batchnorm_forward(x, mean, var, v[0].defined() ? v[0] : zeros, v[1].defined() ? v[1] : zeros, eps_);
  if (!rx.empty() && rx[0].defined()) {
    Tensor t = ops::batchnorm_forward(rx[0], zeros, var, weight_.value, zeros, eps_);
    if (Ry.defined())
      ops::add_inplace(Ry, t);
    else
      Ry = t;
  }
  return {Ry};
}

Tensors BatchNorm2d::r_backward(const Tensors& gy, const Tensors& rgy, const Tensors& rx, const Tensors& v,
                                const Saved& saved, Tensors& rg_params) {
  const Tensor& x = saved.tensor("x");
  const Tensor &mean = saved.tensor("mean"), &var = saved.tensor("var");
  if (saved.get_int("training") != 0)
    throw Error("BatchNorm2d '" + name_ + "': the R-operator needs evaluation mode (running statistics)");
  const Tensor zeros(mean.shape(), x.dtype());
  rg_params.assign(2, Tensor());
  Tensor Rgx;
  auto add_to = [](Tensor& acc, const Tensor& t) {
    if (acc.defined())
      ops::add_inplace(acc, t);
    else
      acc = t;
  };
  if (!rgy.empty() && rgy[0].defined()) {
    Tensors a = ops::batchnorm_backward(rgy[0], x, mean, var, weight_.value, eps_, false, false);
    Rgx = a[0];
    rg_params[0] = a[1];
    rg_params[1] = a[2];
  }
  const bool g = !gy.empty() && gy[0].defined();
  if (g && v.size() == 2 && v[0].defined())
    add_to(Rgx, ops::batchnorm_backward(gy[0], x, mean, var, v[0], eps_, false, false)[0]);
  if (g && !rx.empty() && rx[0].defined())
    add_to(rg_params[0], ops::batchnorm_backward(gy[0], rx[0], zeros, var, weight_.value, eps_, false, false)[1]);
  return {Rgx};
}

}  // namespace xdnn
