#include "models/train/optim.h"
#include "engine/check.h"

#include <charconv>
#include <cmath>

#include "engine/dispatch.h"

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

namespace {

// One SGD update of n elements; `first` = the momentum buffer does not exist yet (PyTorch clones g).
// Scalars are cast to T first, as PyTorch's CPU kernels do for float tensors.
template <class T>
void sgd_update(T* theta, const T* grad, T* buf, int64_t n, const OptimizerConfig& c, bool first) {
  const T lr = static_cast<T>(c.lr), wd = static_cast<T>(c.weight_decay), mu = static_cast<T>(c.momentum);
  for (int64_t i = 0; i < n; ++i) {
    T g = grad[i];
    if (c.weight_decay != 0) g = g + wd * theta[i];
    if (buf) {
      buf[i] = first ? g : mu * buf[i] + g;  // dampening 0
      g = c.nesterov ? g + mu * buf[i] : buf[i];
    }
    theta[i] = theta[i] - lr * g;
  }
}

// Vectorised (the build has -fno-math-errno, so std::sqrt is the packed sqrt instruction, correctly
// rounded like the scalar one: the same bits). It matters beyond speed: a parameter whose gradient stays
// zero (a dead unit) has m decaying by β₁ per step into the denormal range within an epoch, and every
// scalar operation on a denormal costs a microcode assist (fashion-resnet epoch 2: the step went from 6 %
// to 19 % of the time); packed operations pay one assist per vector, not per element.
template <class T>
void adam_update(T* theta, const T* grad, T* m, T* v, int64_t n, const OptimizerConfig& c, int64_t t) {
  const double bc1 = 1.0 - std::pow(c.beta1, static_cast<double>(t));
  const double bc2 = 1.0 - std::pow(c.beta2, static_cast<double>(t));
  const T step_size = static_cast<T>(c.lr / bc1), bc2_sqrt = static_cast<T>(std::sqrt(bc2));
  const T b1 = static_cast<T>(c.beta1), b2 = static_cast<T>(c.beta2), eps = static_cast<T>(c.eps);
  const T one_b1 = static_cast<T>(1.0 - c.beta1), one_b2 = static_cast<T>(1.0 - c.beta2);
  const T wd = static_cast<T>(c.weight_decay);
  for (int64_t i = 0; i < n; ++i) {
    T g = grad[i];
    if (c.weight_decay != 0) g = g + wd * theta[i];
    m[i] = b1 * m[i] + one_b1 * g;
    v[i] = b2 * v[i] + one_b2 * g * g;
    const T denom = std::sqrt(v[i]) / bc2_sqrt + eps;
    theta[i] = theta[i] - step_size * (m[i] / denom);
  }
}

}  // namespace

void Optimizer::step() {
  ++steps_;
  for (size_t k = 0; k < params_.size(); ++k) {
    Param& p = *params_[k];
    if (!p.grad.defined()) continue;
    if (p.grad.shape() != p.value.shape() || p.grad.dtype() != p.value.dtype())
      throw Error("optimizer: gradient of " + p.name + " is " + p.grad.describe() + ", parameter is " +
                  p.value.describe() + " (per-example gradients cannot be stepped)");
    const int64_t n = p.value.numel();
    dispatch_float(p.value.dtype(), [&](auto zero) {
      using T = decltype(zero);
      if (cfg_.name == "sgd") {
        const bool first = !buf1_[k].defined();
        if (cfg_.momentum != 0 && first) buf1_[k] = Tensor(p.value.shape(), p.value.dtype());
        sgd_update<T>(p.value.data<T>(), p.grad.data<T>(), cfg_.momentum != 0 ? buf1_[k].data<T>() : nullptr, n, cfg_,
                      first);
      } else {
        if (!buf1_[k].defined()) buf1_[k] = Tensor(p.value.shape(), p.value.dtype());
        if (!buf2_[k].defined()) buf2_[k] = Tensor(p.value.shape(), p.value.dtype());
        adam_update<T>(p.value.data<T>(), p.grad.data<T>(), buf1_[k].data<T>(), buf2_[k].data<T>(), n, cfg_, steps_);
      }
    });
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
    (is1 ? b1 : b2)[k] = t.clone();
  }
  check(steps >= 0, source + ": optimizer state has no tensor 'step'");
  buf1_ = std::move(b1);
  buf2_ = std::move(b2);
  steps_ = steps;
}

}  // namespace xdnn
