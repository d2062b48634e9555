// Grad-Cos (Charpiat et al. 2019; Barshan et al. 2020 motivate the normalisation against outliers with
// huge gradients): S[j,i] = ⟨g(test_j), g(train_i)⟩ / (‖g(test_j)‖ ‖g(train_i)‖) at the LAST checkpoint.
// Convention: a pair in which either gradient is exactly zero scores 0. Values lie in [−1, 1].
#include "explain/influence/influence.h"

namespace xdnn::influence {

Tensor grad_cos(const std::vector<Model*>& checkpoints, const InfluenceData& data, const InfluenceOptions& opt) {
  validate_inputs(checkpoints, nullptr, data, opt, /*need_test=*/true);
  return pairwise_scores({checkpoints.back()}, {1.0}, data, opt, /*cosine=*/true, "grad-cos");
}

}  // namespace xdnn::influence
