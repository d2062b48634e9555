// Layer registry for the test harness: every layer registers a small example (a layer instance with
// random parameters and random inputs, all float64). tests/test_layers.cpp loops over the registry and
// runs the finite-difference gradient check, the per-example-gradient check and the relevance checks,
// so a new layer is tested by adding its registration next to its code, with no new test code.
//
// Registration objects live in the layers' own .cpp files; the library is linked whole (meson
// link_whole) so the linker keeps them.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "layers/layer.h"

namespace xdnn {

struct LayerExample {
  std::shared_ptr<Layer> layer;
  Tensors inputs;                    // float64 (or int64 for index inputs, which are not differentiated)
  ForwardOptions forward_options{};  // e.g. training = true for batch-norm statistics
};

struct LayerExampleSpec {
  std::string name;  // "Conv2d/stride2-groups2"
  std::function<LayerExample(Rng&)> make;
  // Finite differences are valid only away from kinks (ReLU at 0, max-pool ties). The harness
  // resamples inputs until every element is at least this far from a kink the example declares.
  bool has_kinks = false;
};

void register_layer_example(LayerExampleSpec spec);
const std::vector<LayerExampleSpec>& layer_examples();

struct LayerExampleRegistration {
  explicit LayerExampleRegistration(LayerExampleSpec spec) { register_layer_example(std::move(spec)); }
};

// Uniform random float64 tensor, for examples.
Tensor random_tensor(const Shape& shape, Rng& rng, double lo = -1.0, double hi = 1.0);

}  // namespace xdnn
