// Optimizers with PyTorch's semantics (torch.optim.SGD / torch.optim.Adam, 1.13, single-tensor path),
// updating Param::value in place from Param::grad.
//
//   SGD   g = ∇ + λθ;  b = g (first step) or μb + g;  θ ← θ − η·(nesterov ? g + μb : b)   (μ = 0: θ ← θ − ηg)
//   Adam  g = ∇ + λθ  (L2, not AdamW);  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  t ← t + 1
//         θ ← θ − (η / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)          (Kingma & Ba 2015, Algorithm 1,
//         with PyTorch's placement of ε)
//
// The state (momentum buffers, m, v, the step count t) round-trips through state_tensors() /
// load_state_tensors() so a resumed run continues bit-identically (models/train/checkpoint.h stores it).
// Parameters without a gradient (grad undefined) are skipped, as PyTorch skips grad None.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "layers/layer.h"

namespace xdnn {

struct OptimizerConfig {
  std::string name = "adam";  // "adam" | "sgd"
  double lr = 1e-3;
  double momentum = 0.0;  // SGD
  bool nesterov = false;  // SGD
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam
};

// Parses "adam"/"sgd" (case-sensitive) and checks ranges; throws naming the bad value.
void validate(const OptimizerConfig& cfg);
// "adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0)" — for checkpoint metadata and logs.
std::string describe(const OptimizerConfig& cfg);

class Optimizer {
 public:
  Optimizer(OptimizerConfig cfg, std::vector<Param*> params);

  void step();       // one update from the current gradients
  void zero_grad();  // grads -> undefined (the next Accumulate backward allocates zeros)

  const OptimizerConfig& config() const { return cfg_; }
  void set_lr(double lr) { cfg_.lr = lr; }
  int64_t steps() const { return steps_; }

  // State as named tensors: "<slot>/<param name>" with slot momentum_buffer | exp_avg | exp_avg_sq, and
  // "step" (int64 scalar, shape (1)). Slots not yet created (before the first step) are absent.
  std::map<std::string, Tensor> state_tensors() const;
  // Inverse of state_tensors(); throws naming `source` and the tensor when a slot's shape or dtype
  // does not match its parameter, or a tensor names no parameter.
  void load_state_tensors(const std::map<std::string, Tensor>& state, const std::string& source);

 private:
  OptimizerConfig cfg_;
  std::vector<Param*> params_;
  std::vector<Tensor> buf1_;  // SGD momentum buffer / Adam exp_avg, by parameter
  std::vector<Tensor> buf2_;  // Adam exp_avg_sq
  int64_t steps_ = 0;
};

}  // namespace xdnn
