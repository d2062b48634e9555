// Small float64 models and a one-call method runner shared by the perturbation tests (test_perturbation.cpp,
// test_superpixels.cpp).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/random.h"
#include "explain/registry.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/relu.h"
#include "models/model.h"

namespace xdnn::testing {

// x (N, D) -> Linear(D, H) -> ReLU -> Linear(H, C), float64, random weights.
inline Model mlp(Rng& rng, int64_t D, int64_t H, int64_t C) {
  Model m;
  m.add_input("x");
  auto fc1 = std::make_shared<Linear>("fc1", D, H, true, DType::F64);
  fc1->init(rng);
  auto fc2 = std::make_shared<Linear>("fc2", H, C, true, DType::F64);
  fc2->init(rng);
  m.append("fc1", fc1);
  m.append("relu", std::make_shared<ReLU>());
  m.append("fc2", fc2);
  m.to(DType::F64);
  return m;
}

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

inline explain::Attribution run(const std::string& method, const Model& m, const Tensor& x,
                                std::vector<int64_t> targets, std::map<std::string, std::string> opts) {
  explain::ExplainRequest req;
  req.model = &m;
  req.input = x;
  req.targets = std::move(targets);
  req.options = explain::resolve_options(explain::find_method(method), opts);
  explain::load_option_files(explain::find_method(method), req.options);
  return explain::find_method(method).run(req);
}

}  // namespace xdnn::testing
