#include "layers/registry.h"

namespace xdnn {

static std::vector<LayerExampleSpec>& examples() {
  static std::vector<LayerExampleSpec> v;
  return v;
}

void register_layer_example(LayerExampleSpec spec) { examples().push_back(std::move(spec)); }
const std::vector<LayerExampleSpec>& layer_examples() { return examples(); }

Tensor random_tensor(const Shape& shape, Rng& rng, double lo, double hi) {
  Tensor t(shape, DType::F64);
  double* p = t.data<double>();
  for (int64_t i = 0, i_end = t.numel(); i < i_end; ++i) p[i] = rng.uniform(lo, hi);
  return t;
}

}  // namespace xdnn
