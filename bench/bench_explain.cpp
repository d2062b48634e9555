// Seconds per explanation of fashion-cnn through the method registry (what `xdnn explain` runs),
// float32, at batch 1 and 32: saliency, integrated-gradients (50 steps, Gauss-Legendre), grad-cam,
// occlusion (5x5 windows, stride 3), lrp (epsilon-plus). The same workloads with Captum / Zennit on
// PyTorch CPU: bench/explain_reference.py. Results: bench/RESULTS.md.
// "CPU" is the process's CPU time (all threads, spinning included), so on a shared machine the 1-thread
// CPU time is the number to compare with explain_reference.py's "cpu" column.
#include <benchmark/benchmark.h>

#include <map>
#include <string>

#include "engine/random.h"
#include "explain/method.h"
#include "explain/registry.h"
#include "models/zoo.h"

using namespace xdnn;

namespace {

void BM_Explain(benchmark::State& state, const std::string& method, const std::map<std::string, std::string>& opts) {
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
  for (auto _ : state) {
    Tensor a = info.run(req).values;
    benchmark::DoNotOptimize(a.raw_data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}

using Opts = std::map<std::string, std::string>;
BENCHMARK_CAPTURE(BM_Explain, saliency, std::string("saliency"), Opts{})
    ->Arg(1)
    ->Arg(32)
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Explain, integrated_gradients_50, std::string("integrated-gradients"),
                  Opts{{"steps", "50"}, {"integration", "gauss-legendre"}})
    ->Arg(1)
    ->Arg(32)
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Explain, grad_cam, std::string("grad-cam"), Opts{})
    ->Arg(1)
    ->Arg(32)
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Explain, occlusion_5x5_s3, std::string("occlusion"),
                  Opts{{"window", "1,5,5"}, {"stride", "1,3,3"}})
    ->Arg(1)
    ->Arg(32)
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Explain, lrp_epsilon_plus, std::string("lrp"), Opts{{"composite", "epsilon-plus"}})
    ->Arg(1)
    ->Arg(32)
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
