// The timing loop the explanation benchmarks share (bench_explain.cpp, bench_perturbation.cpp): fashion-cnn of
// the zoo, a float32 batch of state.range(0) random images (seed 3), target n mod 10 for image n, one
// explanation per iteration through the method registry (what `xdnn explain` runs).
#pragma once
#include <benchmark/benchmark.h>

#include <map>
#include <string>

#include "engine/random.h"
#include "explain/method.h"
#include "explain/registry.h"
#include "models/zoo.h"

namespace xdnn::bench {

inline void time_explanation(benchmark::State& state, const std::string& method,
                             const std::map<std::string, std::string>& opts) {
  Model m = build_zoo_model("fashion-cnn", 1);
  const int64_t n = state.range(0);
  Rng rng(3);
  Tensor x({n, 1, 28, 28}, DType::F32);
  for (int64_t i = 0; i < x.numel(); ++i) x.set_item(i, rng.uniform());
  const explain::MethodInfo& info = explain::find_method(method);
  explain::ExplainRequest req;
  req.model = &m;
  req.input = x;
  for (int64_t i = 0; i < n; ++i) req.targets.push_back(i % 10);
  req.options = explain::resolve_options(info, opts);
  explain::load_option_files(info, req.options);
  for (auto _ : state) {
    Tensor a = info.run(req).values;
    benchmark::DoNotOptimize(a.raw_data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}

}  // namespace xdnn::bench
