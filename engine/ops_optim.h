// Optimizer updates as ops (issue 17, item 2): the parameter update of one step runs where the
// parameters live. Semantics of torch.optim.SGD / Adam (1.13, single-tensor path), written out in
// models/train/optim.h; scalars are cast to the parameter dtype first, as PyTorch's CPU kernels do.
// Part of the ops:: device boundary (engine/ops.h), in its own header so that adding it rebuilds only
// its users. CPU: engine/cpu/optim.cpp; CUDA: the CUDA backend's optim.cu (bodies: optim_body.h, tested on
// the host in tests/test_ops_optim.cpp).
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace xdnn::ops {

struct SgdStep {
  double lr = 0, momentum = 0, weight_decay = 0;
  bool nesterov = false;
  bool first = false;  // the momentum buffer holds nothing yet: b = g (PyTorch clones g)
};
// θ (theta), ∇ (grad) and the momentum buffer b (undefined when momentum = 0) of one shape and float dtype:
//   g = ∇ + λθ;  b = g (first) or μb + g;  θ ← θ − η·(nesterov ? g + μb : b)   (μ = 0: θ ← θ − ηg)
void sgd_step_inplace(Tensor& theta, const Tensor& grad, Tensor& buf, const SgdStep& s);

struct AdamStep {
  double lr = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  int64_t t = 1;  // the step number, from 1 (bias corrections 1 − βᵗ)
};
// θ, ∇, m (exp_avg), v (exp_avg_sq) of one shape and float dtype:
//   g = ∇ + λθ;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − (η/(1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)
void adam_step_inplace(Tensor& theta, const Tensor& grad, Tensor& m, Tensor& v, const AdamStep& s);

}  // namespace xdnn::ops
