#include "layers/registry.h"

#include "engine/ops_fill.h"

namespace xdnn {

static std::vector<LayerExampleSpec>& examples() {
  static std::vector<LayerExampleSpec> v;
  return v;
}

void register_layer_example(LayerExampleSpec spec) { examples().push_back(std::move(spec)); }
const std::vector<LayerExampleSpec>& layer_examples() { return examples(); }

Tensor random_tensor(const Shape& shape, Rng& rng, double lo, double hi) {
  Tensor t(shape, DType::F64);
  ops::fill_uniform_inplace(t, lo, hi, rng);
  return t;
}

}  // namespace xdnn
