// FGSM and PGD, the attack registry and its checks; see attack.h. Carlini–Wagner L2: attack_cw.cpp.
#include "explain/attack.h"

#include <algorithm>
#include <cmath>

#include "engine/check.h"

#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/random.h"
#include "explain/targets.h"

namespace xdnn::explain {

Tensor cross_entropy_input_gradient(const Model& model, const Tensor& x, const std::vector<int64_t>& labels) {
  Tape tape = model.forward({x});
  const Tensor& f = tape_logits(model, tape);
  const int64_t N = f.dim(0), K = f.dim(1);
  if (static_cast<int64_t>(labels.size()) != N)
    throw Error("labels: " + std::to_string(labels.size()) + " labels for " + std::to_string(N) + " inputs");
  // ∂L/∂f = softmax(f) − onehot(y), per row, max-shifted for stability: in double on the host from the N·K
  // logits read back (ops::value_vector), then on the logits' device.
  const std::vector<double> fv = ops::value_vector(f);
  std::vector<double> seed(fv.size());
  for (int64_t n = 0; n < N; ++n) {
    if (labels[n] < 0 || labels[n] >= K)
      throw Error("labels: label " + std::to_string(labels[n]) + " of example " + std::to_string(n) +
                  " is out of range for " + std::to_string(K) + " classes");
    const double* row = fv.data() + n * K;
    double mx = row[0];
    for (int64_t k = 1; k < K; ++k) mx = std::max(mx, row[k]);
    double z = 0;
    for (int64_t k = 0; k < K; ++k) z += std::exp(row[k] - mx);
    for (int64_t k = 0; k < K; ++k) seed[n * K + k] = std::exp(row[k] - mx) / z - (k == labels[n] ? 1.0 : 0.0);
  }
  const Tensor seed_t = Tensor::from_vector(f.shape(), seed).to(f.dtype()).to(f.device());
  std::vector<Tensor> g = model.backward(tape, {{logits_id(model), seed_t}});
  const int in = model.inputs().at(0);
  return g.at(in).defined() ? g[in] : Tensor(x.shape(), x.dtype(), x.device());
}

namespace {

// sign(∇ₓL(x)) in float64, x float64 (N, ...); sign(0) = 0.
Tensor sign_gradient(const Model& model, const Tensor& x, const std::vector<int64_t>& labels) {
  Tensor g = cross_entropy_input_gradient(model, x.to(model.dtype()), labels).to(DType::F64);
  return ops::unary(ops::Unary::Sign, g);
}

Tensor fgsm(const Model& model, const Tensor& x, const std::vector<int64_t>& labels, const AttackOptions& opt) {
  return ops::clip(ops::add(x, ops::scale(sign_gradient(model, x, labels), opt.epsilon)), opt.box_lo, opt.box_hi);
}

Tensor pgd(const Model& model, const Tensor& x, const std::vector<int64_t>& labels, const AttackOptions& opt) {
  const Tensor lo = ops::add_scalar(x, -opt.epsilon), hi = ops::add_scalar(x, opt.epsilon);
  Tensor adv = x;
  if (opt.random_start) {
    Rng rng(opt.seed);
    // The serial draws in flat order on the host, the start copied to x's device (as ops::dropout_mask).
    std::vector<double> a = ops::value_vector(x);
    for (double& v : a) v = std::min(opt.box_hi, std::max(opt.box_lo, v + rng.uniform(-opt.epsilon, opt.epsilon)));
    adv = Tensor::from_vector(x.shape(), a).to(x.device());
  }
  for (int64_t k = 0; k < opt.steps; ++k) {
    Tensor step = ops::add(adv, ops::scale(sign_gradient(model, adv, labels), opt.step_size));
    step = ops::binary(ops::Binary::Min, ops::binary(ops::Binary::Max, step, lo), hi);
    adv = ops::clip(step, opt.box_lo, opt.box_hi);
  }
  return adv;
}

}  // namespace

ChoiceRegistry<AttackInfo>& attacks() {
  static ChoiceRegistry<AttackInfo> registry(
      "attack method",
      {
          {"fgsm", "fast gradient sign, one step of size radius (Goodfellow et al. 2015)", false, false, fgsm},
          {"pgd", "projected gradient descent, --steps steps of --step-size (Madry et al. 2018)", true, false, pgd},
          {"cw-l2",
           "Carlini-Wagner L2: least-L2 adversarial by Adam in tanh space, binary search over c (Carlini & Wagner "
           "2017)",
           false, true, carlini_wagner_l2},
      });
  return registry;
}

AdversarialConfig pgd_adversary(double radius, int64_t steps, double step_size) {
  AdversarialConfig a;
  a.method = "pgd";
  a.radius = radius;
  a.steps = steps;
  a.step_size = step_size;
  a.perturb = [a](const Model& model, const Tensor& x, const Tensor& y, uint64_t seed) {
    AttackOptions opt;
    opt.method = "pgd";
    opt.epsilon = a.radius;
    opt.steps = a.steps;
    opt.step_size = a.step_size;
    opt.random_start = true;
    opt.seed = seed;
    return attack(model, x, y, opt);
  };
  return a;
}

void check_attack_options(const AttackOptions& opt) {
  const AttackInfo& method = attacks().find(opt.method);
  auto finite = [](double v) { return std::isfinite(v); };
  check(finite(opt.box_lo) && finite(opt.box_hi) && opt.box_lo < opt.box_hi,
        "attack: the box [" + std::to_string(opt.box_lo) + ", " + std::to_string(opt.box_hi) +
            "] is empty: --box-min must be below --box-max, both finite");
  if (!method.minimal_l2)
    check(opt.epsilon >= 0 && finite(opt.epsilon), "attack: --radius must be a finite number >= 0");
  if (method.iterative)
    check(opt.steps >= 1 && opt.step_size >= 0 && finite(opt.step_size),
          "attack " + opt.method + ": --steps must be >= 1 and --step-size a finite number >= 0");
  check(!opt.targeted || method.minimal_l2, "attack " + opt.method + ": --targets is for cw-l2 only");
  if (!method.minimal_l2) return;
  check(opt.steps >= 1, "attack cw-l2: --steps must be >= 1, got " + std::to_string(opt.steps));
  check(opt.search_steps >= 1, "attack cw-l2: --search-steps must be >= 1, got " + std::to_string(opt.search_steps));
  check(opt.initial_const > 0 && finite(opt.initial_const),
        "attack cw-l2: --initial-const must be a finite number > 0, got " + std::to_string(opt.initial_const));
  check(opt.confidence >= 0 && finite(opt.confidence),
        "attack cw-l2: --confidence must be a finite number >= 0, got " + std::to_string(opt.confidence));
  check(opt.lr > 0 && finite(opt.lr), "attack cw-l2: --lr must be a finite number > 0, got " + std::to_string(opt.lr));
}

Tensor attack(const Model& model, const Tensor& x_in, const Tensor& labels_t, const AttackOptions& opt) {
  if (!x_in.defined() || !x_in.is_float() || x_in.ndim() < 2)
    throw Error("attack input: expected a float batch (N, ...), got " + (x_in.defined() ? x_in.describe() : "nothing"));
  if (labels_t.dtype() != DType::I64 || labels_t.ndim() != 1 || labels_t.dim(0) != x_in.dim(0))
    throw Error("attack labels: expected int64 (" + std::to_string(x_in.dim(0)) + "), got " + labels_t.describe());
  check_attack_options(opt);
  const AttackInfo& method = attacks().find(opt.method);
  // The box holds the input (CW's change of variables needs it; FGSM / PGD would clip the clean pixels).
  const Tensor x = x_in.to(DType::F64);
  const std::vector<double> xd = ops::value_vector(x);  // checked on the host
  for (int64_t i = 0, i_end = x.numel(); i < i_end; ++i)
    if (!(xd[i] >= opt.box_lo && xd[i] <= opt.box_hi))
      throw Error("attack input: element " + std::to_string(i) + " = " + std::to_string(xd[i]) +
                      " is outside the box [" + std::to_string(opt.box_lo) + ", " + std::to_string(opt.box_hi) + "]",
                  "set the box with --box-min / --box-max");
  const std::vector<int64_t> labels = ops::index_vector(labels_t);
  return method.run(model, x, labels, opt).to(DType::F32);
}

}  // namespace xdnn::explain
