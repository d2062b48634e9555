// One harness for every registered layer (layers/registry.h): finite-difference gradient checks in
// float64 for inputs and parameters, per-example parameter gradients against masked batch gradients,
// LRP conservation for linear-like layers, and the norm / wta rules against their definitions. A new
// layer is covered by registering an example.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/ops.h"
#include "layers/registry.h"
#include "tests/gradcheck.h"

using namespace xdnn;
using testing::max_rel_diff;

namespace {

struct Run {
  std::vector<Tensor> outputs;
  Saved saved;
};

Run run_forward(const LayerExample& ex, const std::vector<Tensor>& inputs) {
  Run r;
  Rng dropout_rng(1234);  // same mask on every call, so finite differences see one function
  ForwardOptions opt = ex.forward_options;
  opt.rng = &dropout_rng;
  r.outputs = ex.layer->forward(inputs, r.saved, opt);
  return r;
}

double loss(const std::vector<Tensor>& outputs, const std::vector<Tensor>& cotangents) {
  double s = 0;
  for (size_t i = 0; i < outputs.size(); ++i)
    if (cotangents[i].defined()) s += ops::dot_all(outputs[i], cotangents[i]);
  return s;
}

}  // namespace

TEST_CASE("layer registry is populated") {
  // A static library would silently drop the registrations; link_whole keeps them.
  CHECK(layer_examples().size() >= 3);
}

TEST_CASE("every registered layer: finite-difference gradients (float64) for inputs and parameters") {
  for (const auto& spec : layer_examples()) {
    SUBCASE(spec.name.c_str()) {
      Rng rng(42);
      LayerExample ex = spec.make(rng);
      std::vector<Tensor> inputs = ex.inputs;
      Run base = run_forward(ex, inputs);
      std::vector<Tensor> cot;
      for (const auto& y : base.outputs) cot.push_back(y.is_float() ? random_tensor(y.shape(), rng) : Tensor());

      for (Param* p : ex.layer->params()) p->grad = Tensor();
      BackwardOptions bopt;
      bopt.param_grad = ParamGrad::Accumulate;
      std::vector<Tensor> gx = ex.layer->backward(cot, base.saved, bopt);
      REQUIRE(gx.size() == inputs.size());

      auto f = [&] { return loss(run_forward(ex, inputs).outputs, cot); };
      for (size_t i = 0; i < inputs.size(); ++i) {
        if (!inputs[i].is_float()) continue;
        INFO(spec.name, " input ", i);
        Tensor num = testing::numeric_gradient(f, inputs[i]);
        REQUIRE(gx[i].defined());
        CHECK(max_rel_diff(gx[i], num) < 1e-6);
      }
      for (Param* p : ex.layer->params()) {
        INFO(spec.name, " parameter ", p->name);
        Tensor num = testing::numeric_gradient(f, p->value);
        REQUIRE(p->grad.defined());
        CHECK(max_rel_diff(p->grad, num) < 1e-6);
      }
    }
  }
}

TEST_CASE("every registered layer with parameters: per-example gradients equal masked batch gradients") {
  for (const auto& spec : layer_examples()) {
    SUBCASE(spec.name.c_str()) {
      Rng rng(7);
      LayerExample ex = spec.make(rng);
      if (ex.layer->params().empty() || ex.forward_options.training) continue;  // batch-coupled layers
      Run base = run_forward(ex, ex.inputs);
      std::vector<Tensor> cot;
      for (const auto& y : base.outputs) cot.push_back(y.is_float() ? random_tensor(y.shape(), rng) : Tensor());
      BackwardOptions per;
      per.param_grad = ParamGrad::PerExample;
      ex.layer->backward(cot, base.saved, per);
      std::vector<Tensor> per_example;
      for (Param* p : ex.layer->params()) per_example.push_back(p->grad);
      const int64_t N = ex.inputs[0].dim(0);
      for (int64_t n = 0; n < N; ++n) {
        std::vector<Tensor> masked;
        for (const auto& c : cot) {
          if (!c.defined()) {
            masked.push_back(c);
            continue;
          }
          Tensor m(c.shape(), c.dtype());
          m.slice_batch(n, n + 1).copy_from(c.slice_batch(n, n + 1));
          masked.push_back(m);
        }
        for (Param* p : ex.layer->params()) p->grad = Tensor();
        BackwardOptions acc;
        acc.param_grad = ParamGrad::Accumulate;
        ex.layer->backward(masked, base.saved, acc);
        auto params = ex.layer->params();
        for (size_t k = 0; k < params.size(); ++k) {
          INFO(spec.name, " ", params[k]->name, " sample ", n);
          REQUIRE(per_example[k].dim(0) == N);
          Tensor slice = per_example[k].slice_batch(n, n + 1).reshape(params[k]->value.shape());
          CHECK(max_rel_diff(slice, params[k]->grad) < 1e-12);
        }
      }
    }
  }
}

TEST_CASE("every linear-like layer: LRP-0 without bias conserves relevance per sample") {
  for (const auto& spec : layer_examples()) {
    SUBCASE(spec.name.c_str()) {
      Rng rng(9);
      LayerExample ex = spec.make(rng);
      if (!ex.layer->as_linear()) continue;
      Run base = run_forward(ex, ex.inputs);
      Tensor R = random_tensor(base.outputs[0].shape(), rng, 0.0, 1.0);
      Rule rule;
      rule.name = "zero";
      rule.bias_in_denominator = false;
      Tensor Rin = ex.layer->relevance({R}, base.saved, rule).at(0);
      const int64_t N = R.dim(0);
      for (int64_t n = 0; n < N; ++n) {
        double out = ops::sum_all(R.slice_batch(n, n + 1)), in = ops::sum_all(Rin.slice_batch(n, n + 1));
        CHECK(std::abs(in - out) < 1e-9 * std::max(1.0, std::abs(out)));
      }
    }
  }
}

// The pooling-like rules of the layers that are not linear-like (Reduce, ReduceMean, Resize, Add,
// AvgPool2d, GlobalAvgPool, MaxPool2d, ...), against their definitions written with the layer's own
// backward pass (the transposed map, Pᵀ g): on positive inputs, with δ = 0,
//   "norm" (z-rule, golden README "AveragePool"):  R_in = x ⊙ Pᵀ(R / (P x))
//   "wta"  (winner takes all):                     R_in = Pᵀ R, the gradient's routing
// and both conserve the total relevance. A layer that declares one of these rules is covered by
// registering an example.
TEST_CASE("every layer with a norm or wta rule: the rule's definition and conservation") {
  for (const auto& spec : layer_examples()) {
    SUBCASE(spec.name.c_str()) {
      Rng rng(11);
      LayerExample ex = spec.make(rng);
      const std::vector<std::string> rules = ex.layer->relevance_rules();
      for (const std::string name : {"norm", "wta"}) {
        if (std::find(rules.begin(), rules.end(), name) == rules.end()) continue;
        std::vector<Tensor> inputs;
        for (const Tensor& x : ex.inputs)  // positive: no denominator near zero, no sign cancellation
          inputs.push_back(x.is_float() ? random_tensor(x.shape(), rng, 0.1, 1.0).to(x.dtype()) : x);
        Run base = run_forward(ex, inputs);
        if (base.outputs.size() != 1) continue;
        const Tensor& y = base.outputs[0];
        Tensor R = random_tensor(y.shape(), rng, 0.0, 1.0).to(y.dtype());
        Rule rule;
        rule.name = name;
        rule.stabilizer = 0.0;
        std::vector<Tensor> Rin = ex.layer->relevance({R}, base.saved, rule);
        const Tensor seed = name == std::string("norm") ? ops::div(R, y) : R;
        std::vector<Tensor> back = ex.layer->backward({seed}, base.saved, BackwardOptions{});
        double in_total = 0;
        for (size_t k = 0; k < inputs.size(); ++k) {
          if (!inputs[k].is_float()) continue;
          INFO(spec.name, " rule ", name, " input ", k);
          REQUIRE(Rin.at(k).defined());
          const Tensor expected = name == std::string("norm") ? ops::mul(inputs[k], back.at(k)) : back.at(k);
          CHECK(max_rel_diff(Rin[k], expected) < 1e-12);
          in_total += ops::sum_all(Rin[k]);
        }
        const double out_total = ops::sum_all(R);
        CHECK(std::abs(in_total - out_total) < 1e-10 * std::max(1.0, std::abs(out_total)));
      }
    }
  }
}
