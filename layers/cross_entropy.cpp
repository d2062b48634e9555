#include "layers/cross_entropy.h"

#include "engine/ops.h"

namespace xdnn {

Tensor cross_entropy_per_example(const Tensor& logits, const Tensor& labels) {
  return ops::cross_entropy_per_example(logits, labels);
}

double cross_entropy(const Tensor& logits, const Tensor& labels, LossReduction reduction) {
  const double total = ops::sum_all(ops::cross_entropy_per_example(logits, labels));  // fixed order
  return reduction == LossReduction::Mean ? total / static_cast<double>(logits.dim(0)) : total;
}

Tensor cross_entropy_backward(const Tensor& logits, const Tensor& labels, LossReduction reduction) {
  const double scale = reduction == LossReduction::Mean && logits.ndim() >= 1 && logits.dim(0) > 0
                           ? 1.0 / static_cast<double>(logits.dim(0))
                           : 1.0;
  return ops::cross_entropy_backward(logits, labels, scale);
}

}  // namespace xdnn
