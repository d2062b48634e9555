// TracInCP (Pruthi et al. 2020, "Estimating Training Data Influence by Tracing Gradient Descent", eq. 3):
//   S[j,i] = Σ_c lr_c ⟨g_c(test_j), g_c(train_i)⟩
// over saved checkpoints c with the learning rate lr_c in effect there; g_c the per-example loss
// gradient at checkpoint c (per_example.h). Positive: train_i is a proponent of test_j (a gradient step
// on train_i lowers test_j's loss); negative: an opponent.
#include "explain/influence/influence.h"

namespace xdnn::influence {

Tensor tracin(const std::vector<Model*>& checkpoints, const std::vector<double>& lrs, const InfluenceData& data,
              const InfluenceOptions& opt) {
  validate_inputs(checkpoints, &lrs, data, opt, /*need_test=*/true);
  return pairwise_scores(checkpoints, lrs, data, opt, /*cosine=*/false, "tracin");
}

}  // namespace xdnn::influence
