// The float64 two-layer perceptron several test families build (influence, perturbation): one definition, so
// that every family draws the same weights from the same seed in the same order (fc1 first, then fc2).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "engine/random.h"
#include "layers/linear.h"
#include "layers/relu.h"
#include "models/model.h"

namespace xdnn::testing {

// input (N, D) -> Linear(D, H) "fc1" -> ReLU "relu" -> Linear(H, C) "fc2" (bias iff `out_bias`), float64,
// weights drawn from `rng`.
inline Model mlp_f64(Rng& rng, const std::string& input, int64_t D, int64_t H, int64_t C, bool out_bias = true) {
  Model m;
  m.add_input(input);
  auto fc1 = std::make_shared<Linear>("fc1", D, H, true, DType::F64);
  fc1->init(rng);
  auto fc2 = std::make_shared<Linear>("fc2", H, C, out_bias, DType::F64);
  fc2->init(rng);
  m.append("fc1", fc1);
  m.append("relu", std::make_shared<ReLU>());
  m.append("fc2", fc2);
  m.to(DType::F64);
  return m;
}

}  // namespace xdnn::testing
