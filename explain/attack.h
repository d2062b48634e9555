// Adversarial examples. FGSM and PGD: untargeted, L∞ (golden README §xdnn attack):
//   FGSM (Goodfellow, Shlens & Szegedy 2015, eq. 3):  x' = clip(x + ε·sign(∇ₓL(x)), 0, 1)
//   PGD  (Madry et al. 2018, eq. 2), no random start: x⁰ = x;
//        xᵏ = clip(min(max(xᵏ⁻¹ + a·sign(∇L(xᵏ⁻¹)), x − ε), x + ε), 0, 1) for k = 1..S
// L(x, y) = logsumexp(f(x)) − f_y(x), the per-example cross-entropy of the logits (summing over the
// batch does not change the per-example gradients), and sign(0) = 0: a pixel with an exactly zero
// gradient does not move. The updates are computed in float64 from the float32 input; the model sees
// each iterate in its own dtype. The box [lo, hi] (default [0, 1]) replaces [0, 1] in the clips.
// PGD with random_start (Madry et al. 2018, §3; adversarial training) starts at
// x⁰ = clip(x + u, lo, hi), u uniform in [−ε, ε] per element from Rng(seed), drawn in element order.
// Carlini–Wagner L2 (Carlini & Wagner 2017), targeted or untargeted: explain/attack_cw.cpp.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "explain/choices.h"
#include "models/model.h"
#include "models/train/train.h"

namespace xdnn::explain {

struct AttackOptions {
  std::string method = "fgsm";  // a name in attacks()
  double epsilon = 0.0;         // fgsm, pgd: the L∞ radius
  int64_t steps = 10;           // pgd; cw-l2: Adam iterations per search step
  double step_size = 0.01;      // pgd
  bool random_start = false;    // pgd: start at a uniform point of the ball, from Rng(seed)
  uint64_t seed = 0;
  double box_lo = 0.0, box_hi = 1.0;  // every attack keeps its examples inside [lo, hi]
  // cw-l2 (Carlini & Wagner 2017, §V and the paper's code's defaults).
  bool targeted = false;        // labels are the target classes, not the true ones
  double confidence = 0.0;      // κ of f6: a success needs a logit margin > κ
  int64_t search_steps = 9;     // binary-search steps over the constant c
  double initial_const = 1e-3;  // c of the first search step
  double lr = 0.01;             // Adam's learning rate on w
  bool abort_early = true;      // stop an example whose loss stalls (< 0.01 % better over steps/10 iterations)
};

// ∂L/∂x for every example, L the per-example cross-entropy; x (N, ...) float, labels (N) int64. The seed
// at the logits is softmax(f) − onehot(y), computed in double per row.
Tensor cross_entropy_input_gradient(const Model& model, const Tensor& x, const std::vector<int64_t>& labels);

// The registry of attacks (explain/choices.h). `run` takes x in float64 (N, ...) and the labels, already
// checked, and returns the adversarial batch in float64.
struct AttackInfo {
  std::string name;
  std::string description;
  bool iterative = false;   // reads --steps and --step-size
  bool minimal_l2 = false;  // cw-l2: reads the Carlini–Wagner options, may be targeted, ignores epsilon
  std::function<Tensor(const Model& model, const Tensor& x, const std::vector<int64_t>& labels,
                       const AttackOptions& opt)>
      run;
};
ChoiceRegistry<AttackInfo>& attacks();

// Carlini–Wagner L2 (explain/attack_cw.cpp); x float64 (N, ...) inside [box_lo, box_hi]. Returns, per example,
// the successful iterate of least L2 distance over every search step (rounded to float32, the dtype it
// was judged in), or x itself where no iterate succeeded.
Tensor carlini_wagner_l2(const Model& model, const Tensor& x, const std::vector<int64_t>& labels,
                         const AttackOptions& opt);

// The CW success test on logits (N, K), per row: max_{i≠y} Z_i − Z_y > κ (untargeted, y the true class) or
// Z_t − max_{i≠t} Z_i > κ (targeted, t the target class). κ = 0: strictly misclassified / strictly the target.
std::vector<bool> attack_succeeded(const Tensor& logits, const std::vector<int64_t>& labels, bool targeted,
                                   double confidence);

// PGD with a random start (seeded per batch by the training loop), radius ε, `steps` steps of `step_size`,
// box [0, 1]: the attack of adversarial training (models/train/train.h, Madry et al. 2018).
AdversarialConfig pgd_adversary(double radius, int64_t steps, double step_size);

// Checks the options alone (method name, box, radius, steps, the CW options): the CLI calls it before loading.
void check_attack_options(const AttackOptions& opt);

// Runs the attack; x float (N, ...) in the model's input layout, labels int64 (N) (the target classes when
// options.targeted). Throws on bad input (label out of range, wrong shapes, ε < 0, steps 0, lo ≥ hi,
// x outside the box, a bad CW option) before any work. Returns float32, shape of x.
Tensor attack(const Model& model, const Tensor& x, const Tensor& labels, const AttackOptions& options);

}  // namespace xdnn::explain
