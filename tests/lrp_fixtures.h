// Small models and helpers shared by the LRP tests (tests/test_lrp.cpp, tests/test_lrp_models.cpp).
#pragma once
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "explain/lrp/composite.h"
#include "explain/lrp/lrp.h"
#include "explain/targets.h"
#include "layers/add.h"
#include "layers/avgpool2d.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/maxpool2d.h"
#include "layers/registry.h"
#include "layers/relu.h"

namespace xdnn::lrp_test {

using namespace xdnn::explain::lrp;

inline std::shared_ptr<Linear> make_linear(const std::string& name, int64_t in, int64_t out, bool bias, Rng& rng) {
  auto l = std::make_shared<Linear>(name, in, out, bias, DType::F64);
  l->init(rng);
  return l;
}

inline std::shared_ptr<Conv2d> make_conv(const std::string& name, int64_t in, int64_t out, bool bias, Rng& rng) {
  auto c = std::make_shared<Conv2d>(name, in, out, 3, 3, Conv2dOptions::same(1, 1, 1, 1, bias), DType::F64);
  c->init(rng);
  return c;
}

// mlp: Flatten, Linear(16, 12), ReLU, Linear(12, 5) on (N, 1, 4, 4).
inline Model make_mlp(Rng& rng, bool bias) {
  Model m;
  m.add_input("input");
  m.append("flatten", std::make_shared<Flatten>());
  m.append("fc1", make_linear("fc1", 16, 12, bias, rng));
  m.append("relu1", std::make_shared<ReLU>());
  m.append("fc2", make_linear("fc2", 12, 5, bias, rng));
  m.to(DType::F64);
  return m;
}

// cnn: Conv(1→4), ReLU, MaxPool 2, Conv(4→6), ReLU, MaxPool 2, Flatten, Linear(6·2·2, 5) on (N, 1, 8, 8).
inline Model make_cnn(Rng& rng, bool bias) {
  Model m;
  m.add_input("input");
  m.append("conv1", make_conv("conv1", 1, 4, bias, rng));
  m.append("relu1", std::make_shared<ReLU>());
  m.append("pool1", std::make_shared<MaxPool2d>(2));
  m.append("conv2", make_conv("conv2", 4, 6, bias, rng));
  m.append("relu2", std::make_shared<ReLU>());
  m.append("pool2", std::make_shared<MaxPool2d>(2));
  m.append("flatten", std::make_shared<Flatten>());
  m.append("fc", make_linear("fc", 24, 5, bias, rng));
  m.to(DType::F64);
  return m;
}

// Residual cnn: conv1, relu1, conv2, add(relu1, conv2), relu2, avgpool 2, maxpool 2, flatten, fc on
// (N, 1, 8, 8).
inline Model make_residual_cnn(Rng& rng, bool bias) {
  Model m;
  m.add_input("input");
  m.append("conv1", make_conv("conv1", 1, 4, bias, rng));
  m.append("relu1", std::make_shared<ReLU>());
  m.append("conv2", make_conv("conv2", 4, 4, bias, rng));
  m.add_node("add", std::make_shared<Add>(), {"relu1", "conv2"}, {"add"});
  m.append("relu2", std::make_shared<ReLU>());
  m.append("avgpool", std::make_shared<AvgPool2d>(2));
  m.append("maxpool", std::make_shared<MaxPool2d>(2));
  m.append("flatten", std::make_shared<Flatten>());
  m.append("fc", make_linear("fc", 16, 5, bias, rng));
  m.to(DType::F64);
  return m;
}

// Relevance at the input under LRP-0 with every stabiliser (the norm rules of Add and the pools included)
// shrunk to 1e-300: it changes no non-zero denominator in float64, and 0/stab(0) stays 0 (an all-zero
// pooling window), so conservation and LRP-0 = gradient × input hold exactly.
inline Tensor lrp0_exact(const Model& m, const Tensor& x, const std::vector<int64_t>& targets, bool bias_out) {
  RuleParams p;
  p.bias_out = bias_out;
  p.epsilon = 1e-300;
  std::vector<Rule> rules = uniform_rules(m, "epsilon", p);
  for (auto& r : rules) r.stabilizer = 1e-300;
  Tape tape = m.forward({x});
  const int out = m.outputs()[0];
  auto rel = m.relevance(tape, {{out, logit_seed(tape.values[out], targets)}}, [&](int k) { return rules[k]; });
  return rel[m.inputs()[0]];
}

inline std::vector<int64_t> argmax_targets(const Model& m, const Tensor& x) {
  return explain::argmax_rows(m.predict(x));
}

inline double sample_sum(const Tensor& t, int64_t n) { return ops::sum_all(t.slice_batch(n, n + 1)); }

}  // namespace xdnn::lrp_test
