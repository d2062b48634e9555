// Small float64 models shared by the perturbation tests (test_perturbation.cpp, test_superpixels.cpp,
// test_anchors.cpp, test_heatmap.cpp).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/random.h"
#include "explain/registry.h"
#include "layers/embedding.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/relu.h"
#include "layers/token_pooling.h"
#include "models/model.h"
#include "tests/explain_run.h"
#include "tests/model_fixtures.h"

namespace xdnn::testing {

// x (N, D) -> Linear(D, H) -> ReLU -> Linear(H, C), float64, random weights.
inline Model mlp(Rng& rng, int64_t D, int64_t H, int64_t C) { return mlp_f64(rng, "x", D, H, C); }

// A linear model x (N, ...) -> Flatten -> Linear(D, 1) with the given weights and bias.
inline Model linear_model(const std::vector<double>& w, double bias) {
  Model m;
  m.add_input("x");
  const int64_t D = static_cast<int64_t>(w.size());
  auto fc = std::make_shared<Linear>("fc", D, 1, true, DType::F64);
  for (int64_t i = 0; i < D; ++i) fc->params()[0]->value.set_item(i, w[i]);
  fc->params()[1]->value.set_item(0, bias);
  m.append("flat", std::make_shared<Flatten>());
  m.append("fc", fc);
  m.to(DType::F64);
  return m;
}

// ids (N, T) -> Embedding(8, 1) (1 for token `trigger`, else 0) -> mean over T -> Linear(1, 2): logits
// (0, 10 T·mean − 5), so class 1 iff the trigger token is present (test_anchors.cpp, test_heatmap.cpp).
inline Model trigger_token_model(int64_t T, int64_t trigger = 5) {
  Model m;
  m.add_input("ids");
  Tensor table({8, 1}, DType::F64);
  table.set_item(trigger, 1.0);
  m.append("emb", std::make_shared<Embedding>("emb", table));
  m.append("pool", std::make_shared<MeanTokenPooling>());
  auto fc = std::make_shared<Linear>("fc", 1, 2, true, DType::F64);
  fc->params()[0]->value.set_item(0, 0.0);
  fc->params()[0]->value.set_item(1, 10.0 * static_cast<double>(T));
  fc->params()[1]->value.set_item(0, 0.0);
  fc->params()[1]->value.set_item(1, -5.0);
  m.append("fc", fc);
  m.to(DType::F64);
  return m;
}

}  // namespace xdnn::testing
