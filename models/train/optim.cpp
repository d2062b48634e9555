#include "models/train/optim.h"
#include "engine/check.h"

#include <charconv>
#include <cmath>

#include "engine/ops_optim.h"

namespace xdnn {

void validate(const OptimizerConfig& cfg) {
  if (cfg.name != "adam" && cfg.name != "sgd")
    throw Error("unknown optimizer '" + cfg.name + "'", "valid optimizers: adam, sgd");
  if (!(cfg.lr >= 0) || !std::isfinite(cfg.lr)) throw Error("learning rate must be finite and >= 0");
  if (!(cfg.momentum >= 0) || !std::isfinite(cfg.momentum)) throw Error("momentum must be finite and >= 0");
  if (!(cfg.weight_decay >= 0) || !std::isfinite(cfg.weight_decay)) throw Error("weight decay must be finite and >= 0");
  if (cfg.nesterov && cfg.momentum <= 0) throw Error("nesterov momentum requires momentum > 0");
  if (!(cfg.beta1 >= 0 && cfg.beta1 < 1) || !(cfg.beta2 >= 0 && cfg.beta2 < 1))
    throw Error("Adam betas must lie in [0, 1)");
  check(cfg.eps >= 0, "Adam eps must be >= 0");
}

namespace {
// Shortest text that reads back to the same double ("0.9", not "0.90000000000000002").
std::string num(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}
}  // namespace

std::string describe(const OptimizerConfig& cfg) {
  if (cfg.name == "sgd")
    return "sgd(lr=" + num(cfg.lr) + ", momentum=" + num(cfg.momentum) +
           ", nesterov=" + (cfg.nesterov ? "true" : "false") + ", weight_decay=" + num(cfg.weight_decay) + ")";
  return "adam(lr=" + num(cfg.lr) + ", betas=(" + num(cfg.beta1) + ", " + num(cfg.beta2) + "), eps=" + num(cfg.eps) +
         ", weight_decay=" + num(cfg.weight_decay) + ")";
}

Optimizer::Optimizer(OptimizerConfig cfg, std::vector<Param*> params)
    : cfg_(std::move(cfg)), params_(std::move(params)), buf1_(params_.size()), buf2_(params_.size()) {
  validate(cfg_);
}

void Optimizer::zero_grad() {
  for (Param* p : params_) p->grad = Tensor();
}

void Optimizer::step() {
  ++steps_;
  for (size_t k = 0; k < params_.size(); ++k) {
    Param& p = *params_[k];
    if (!p.grad.defined()) continue;
    if (p.grad.shape() != p.value.shape() || p.grad.dtype() != p.value.dtype())
      throw Error("optimizer: gradient of " + p.name + " is " + p.grad.describe() + ", parameter is " +
                  p.value.describe() + " (per-example gradients cannot be stepped)");
    // The update runs where the parameter lives (engine/ops_optim.h); buffers are made beside it.
    if (cfg_.name == "sgd") {
      const bool first = !buf1_[k].defined();
      if (cfg_.momentum != 0 && first) buf1_[k] = Tensor(p.value.shape(), p.value.dtype(), p.value.device());
      ops::sgd_step_inplace(p.value, p.grad, buf1_[k],
                            {cfg_.lr, cfg_.momentum, cfg_.weight_decay, cfg_.nesterov, first});
    } else {
      if (!buf1_[k].defined()) buf1_[k] = Tensor(p.value.shape(), p.value.dtype(), p.value.device());
      if (!buf2_[k].defined()) buf2_[k] = Tensor(p.value.shape(), p.value.dtype(), p.value.device());
      ops::adam_step_inplace(p.value, p.grad, buf1_[k], buf2_[k],
                             {cfg_.lr, cfg_.beta1, cfg_.beta2, cfg_.eps, cfg_.weight_decay, steps_});
    }
  }
}

std::map<std::string, Tensor> Optimizer::state_tensors() const {
  std::map<std::string, Tensor> out;
  const std::string slot1 = cfg_.name == "sgd" ? "momentum_buffer/" : "exp_avg/";
  for (size_t k = 0; k < params_.size(); ++k) {
    if (buf1_[k].defined()) out[slot1 + params_[k]->name] = buf1_[k];
    if (buf2_[k].defined()) out["exp_avg_sq/" + params_[k]->name] = buf2_[k];
  }
  out["step"] = Tensor::from_vector({1}, std::vector<int64_t>{steps_});
  return out;
}

void Optimizer::load_state_tensors(const std::map<std::string, Tensor>& state, const std::string& source) {
  std::vector<Tensor> b1(params_.size()), b2(params_.size());
  int64_t steps = -1;
  for (const auto& [key, t] : state) {
    if (key == "step") {
      if (t.dtype() != DType::I64 || t.numel() != 1)
        throw Error(source + ": tensor step is " + t.describe() + ", expected int64 (1)");
      steps = static_cast<int64_t>(t.item(0));
      continue;
    }
    const size_t slash = key.find('/');
    const std::string slot = key.substr(0, slash == std::string::npos ? 0 : slash);
    const bool is1 = (cfg_.name == "sgd" && slot == "momentum_buffer") || (cfg_.name == "adam" && slot == "exp_avg");
    const bool is2 = cfg_.name == "adam" && slot == "exp_avg_sq";
    if (!is1 && !is2)
      throw Error(source + ": optimizer state tensor " + key + " does not belong to a " + cfg_.name + " optimizer");
    const std::string pname = key.substr(slash + 1);
    size_t k = 0;
    while (k < params_.size() && params_[k]->name != pname) ++k;
    if (k == params_.size()) throw Error(source + ": optimizer state tensor " + key + " names no model parameter");
    const Tensor& v = params_[k]->value;
    if (t.shape() != v.shape() || t.dtype() != v.dtype())
      throw Error(source + ": optimizer state tensor " + key + " is " + t.describe() + ", parameter is " +
                  v.describe());
    (is1 ? b1 : b2)[k] = t.clone().to(v.device());  // beside its parameter
  }
  check(steps >= 0, source + ": optimizer state has no tensor 'step'");
  buf1_ = std::move(b1);
  buf2_ = std::move(b2);
  steps_ = steps;
}

}  // namespace xdnn
