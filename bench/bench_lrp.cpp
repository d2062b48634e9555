// LRP cost against one forward + backward pass (issue 4's measure): fashion-cnn (and fashion-resnet, whose
// batch norms are folded first) at batch 32 on (32, 1, 28, 28) inputs in [0, 1].
//
//   bench_lrp [--benchmark_filter=...]   (Google Benchmark flags)
//
// ForwardBackward is what a gradient explainer pays: Model::forward + the input gradient of the target
// logits. Lrp/<composite> is a whole lrp_attribution call: canonize, rules, forward, relevance pass.
// The goal is LRP <= 1.5x ForwardBackward.
#include <benchmark/benchmark.h>

#include "engine/memory.h"
#include "engine/random.h"
#include "explain/lrp/composite.h"
#include "explain/lrp/lrp.h"
#include "explain/point.h"
#include "models/zoo.h"

using namespace xdnn;

namespace {

Tensor random_images(int64_t n, uint64_t seed) {
  Rng rng(seed);
  Tensor x({n, 1, 28, 28}, DType::F32);
  for (int64_t i = 0; i < x.numel(); ++i) x.set_item(i, rng.uniform());
  return x;
}

void BM_ForwardBackward(benchmark::State& state, const std::string& model_name) {
  Model m = build_zoo_model(model_name, 1);
  Tensor x = random_images(state.range(0), 2);
  std::vector<int64_t> targets(x.dim(0));
  for (size_t i = 0; i < targets.size(); ++i) targets[i] = static_cast<int64_t>(i % 10);
  for (auto _ : state) {
    Tape tape = m.forward({x});
    Tensor g = explain::target_gradient(m, tape, m.inputs()[0], targets);
    benchmark::DoNotOptimize(g.raw_data());
  }
  state.SetItemsProcessed(state.iterations() * x.dim(0));
}

void BM_Lrp(benchmark::State& state, const std::string& model_name, const std::string& composite,
            const std::string& rule) {
  Model m = build_zoo_model(model_name, 1);
  Tensor x = random_images(state.range(0), 2);
  explain::lrp::LrpConfig cfg;
  cfg.composite = composite;
  cfg.rule = rule;
  explain::lrp::LrpQuery q;
  for (int64_t i = 0; i < x.dim(0); ++i) q.targets.push_back(i % 10);
  for (auto _ : state) {
    Tensor r = explain::lrp::lrp_attribution(m, x, cfg, q);
    benchmark::DoNotOptimize(r.raw_data());
  }
  state.SetItemsProcessed(state.iterations() * x.dim(0));
}

}  // namespace

// Every registered composite (explain/lrp/composite.h) on both models, beside their forward+backward,
// plus the uniform epsilon rule on fashion-cnn: ForwardBackward/<model>/32, Lrp/<model>/<composite>/32.
int main(int argc, char** argv) {
  keep_freed_tensor_memory();  // as the xdnn command line does (engine/memory.h)
  benchmark::Initialize(&argc, argv);
  for (const std::string model : {"fashion-cnn", "fashion-resnet"}) {
    benchmark::RegisterBenchmark(("ForwardBackward/" + model).c_str(), BM_ForwardBackward, model)
        ->Arg(32)
        ->Unit(benchmark::kMillisecond);
    for (const auto& c : explain::lrp::composites().entries())
      benchmark::RegisterBenchmark(("Lrp/" + model + "/" + c.name).c_str(), BM_Lrp, model, c.name, std::string())
          ->Arg(32)
          ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("Lrp/fashion-cnn/rule-epsilon", BM_Lrp, std::string("fashion-cnn"), std::string(),
                               std::string("epsilon"))
      ->Arg(32)
      ->Unit(benchmark::kMillisecond);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
