// The influence methods a user can name (influence.h): one entry per method, with what it needs.
#include "explain/influence/influence.h"

namespace xdnn::influence {

explain::ChoiceRegistry<InfluenceMethodInfo>& influence_methods() {
  using Checkpoints = std::vector<Model*>;
  using Lrs = std::vector<double>;
  static explain::ChoiceRegistry<InfluenceMethodInfo> registry(
      "influence method",
      {
          {"tracin", "TracInCP: sum over checkpoints of lr * gradient dot products (Pruthi et al. 2020)", true, true,
           false, false,
           [](const Checkpoints& c, const Lrs& lrs, const InfluenceData& d, const InfluenceOptions& o) {
             return tracin(c, lrs, d, o);
           }},
          {"grad-dot", "gradient dot products, unweighted", false, true, false, false,
           [](const Checkpoints& c, const Lrs&, const InfluenceData& d, const InfluenceOptions& o) {
             return grad_dot(c, d, o);
           }},
          {"grad-cos", "gradient cosine similarity", false, true, false, false,
           [](const Checkpoints& c, const Lrs&, const InfluenceData& d, const InfluenceOptions& o) {
             return grad_cos(c, d, o);
           }},
          {"self-influence", "TracIn of each training example on itself (n_train)", true, false, false, false,
           [](const Checkpoints& c, const Lrs& lrs, const InfluenceData& d, const InfluenceOptions& o) {
             return self_influence(c, lrs, d, o);
           }},
          {"influence-function", "-g(test) (H + damping I)^-1 g(train) at the last checkpoint (Koh & Liang 2017)",
           false, true, true, true,
           [](const Checkpoints& c, const Lrs&, const InfluenceData& d, const InfluenceOptions& o) {
             return influence_function(c, d, o);
           }},
      });
  return registry;
}

}  // namespace xdnn::influence
