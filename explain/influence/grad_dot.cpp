// Grad-Dot (Charpiat et al. 2019, "Input Similarity from the Neural Network Perspective"; the
// single-checkpoint TracIn without learning rate): S[j,i] = ⟨g(test_j), g(train_i)⟩ at the LAST checkpoint.
#include "explain/influence/influence.h"

namespace xdnn::influence {

Tensor grad_dot(const std::vector<Model*>& checkpoints, const InfluenceData& data, const InfluenceOptions& opt) {
  validate_inputs(checkpoints, nullptr, data, opt, /*need_test=*/true);
  return pairwise_scores({checkpoints.back()}, {1.0}, data, opt, /*cosine=*/false, "grad-dot");
}

}  // namespace xdnn::influence
