#include "layers/layer.h"

#include "layers/lrp_rules.h"

namespace xdnn {

std::vector<Tensor> Layer::relevance(const std::vector<Tensor>& relevance_y, const Saved& saved, const Rule& rule) {
  if (const LinearLike* lin = as_linear()) return {linear_relevance(*lin, saved, relevance_y.at(0), rule)};
  std::string have;
  for (const auto& r : relevance_rules()) have += (have.empty() ? "" : ", ") + r;
  throw Error(std::string("layer kind ") + kind() + " has no LRP rule '" + rule.name + "'" +
              (have.empty() ? " (it has no relevance pass)" : "; it has: " + have));
}

std::vector<std::string> Layer::relevance_rules() const {
  if (as_linear()) return linear_rule_names();
  return {};
}

Tensor grad_or_zeros(const Tensor& g, const Tensor& like) {
  if (g.defined()) return g;
  if (!like.defined()) throw Error("internal: missing gradient with no shape to default to");
  return Tensor(like.shape(), like.dtype());
}

}  // namespace xdnn
