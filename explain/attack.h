// Adversarial examples, untargeted, L∞ (golden README §xdnn attack):
//   FGSM (Goodfellow, Shlens & Szegedy 2015, eq. 3):  x' = clip(x + ε·sign(∇ₓL(x)), 0, 1)
//   PGD  (Madry et al. 2018, eq. 2), no random start: x⁰ = x;
//        xᵏ = clip(min(max(xᵏ⁻¹ + a·sign(∇L(xᵏ⁻¹)), x − ε), x + ε), 0, 1) for k = 1..S
// L(x, y) = logsumexp(f(x)) − f_y(x), the per-example cross-entropy of the logits (summing over the
// batch does not change the per-example gradients), and sign(0) = 0: a pixel with an exactly zero
// gradient does not move. The updates are computed in float64 from the float32 input; the model sees
// each iterate in its own dtype.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "explain/choices.h"
#include "models/model.h"

namespace xdnn::explain {

struct AttackOptions {
  std::string method = "fgsm";  // a name in attacks()
  double epsilon = 0.0;
  int64_t steps = 10;       // pgd
  double step_size = 0.01;  // pgd
};

// ∂L/∂x for every example, L the per-example cross-entropy; x (N, ...) float, labels (N) int64. The seed
// at the logits is softmax(f) − onehot(y), computed in double per row.
Tensor cross_entropy_input_gradient(const Model& model, const Tensor& x, const std::vector<int64_t>& labels);

// The registry of attacks (explain/choices.h). `run` takes x in float64 (N, ...) and the labels, already
// checked, and returns the adversarial batch in float64.
struct AttackInfo {
  std::string name;
  std::string description;
  bool iterative = false;  // reads --steps and --step-size
  std::function<Tensor(const Model& model, const Tensor& x, const std::vector<int64_t>& labels,
                       const AttackOptions& opt)>
      run;
};
ChoiceRegistry<AttackInfo>& attacks();

// Runs the attack; x float (N, ...) in the model's input layout, labels int64 (N). Throws on bad input
// (label out of range, wrong shapes, ε < 0, NaN). Returns float32, shape of x.
Tensor attack(const Model& model, const Tensor& x, const Tensor& labels, const AttackOptions& options);

}  // namespace xdnn::explain
