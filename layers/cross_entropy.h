// Cross-entropy loss from logits (PyTorch nn.CrossEntropyLoss with class-index targets):
//   logits z: (N, C) float, labels y: (N) int64 in [0, C)
//   L_n = logsumexp(z_n) − z_n[y_n]        (numerically stable: max-subtracted, in double)
//   mean: (1/N) Σ_n L_n, sum: Σ_n L_n;  ∂L/∂z_n = s · (softmax(z_n) − onehot(y_n)), s = 1/N or 1.
// A pair of functions, not a Layer: training loops call them on the model's output.
// Labels outside [0, C) throw an Error naming the label, the sample and the valid range.
#pragma once
#include "engine/tensor.h"

namespace xdnn {

enum class LossReduction { Mean, Sum };

// Per-example losses L_n: (N), dtype of the logits.
Tensor cross_entropy_per_example(const Tensor& logits, const Tensor& labels);
// The reduced loss.
double cross_entropy(const Tensor& logits, const Tensor& labels, LossReduction reduction = LossReduction::Mean);
// Gradient of the reduced loss with respect to the logits: (N, C).
Tensor cross_entropy_backward(const Tensor& logits, const Tensor& labels,
                              LossReduction reduction = LossReduction::Mean);

}  // namespace xdnn
