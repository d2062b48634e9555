// Seconds per explanation of fashion-cnn through the method registry (what `xdnn explain` runs),
// float32, at batch 1 and 32: saliency, integrated-gradients (50 steps, Gauss-Legendre), grad-cam,
// occlusion (5x5 windows, stride 3), lrp (epsilon-plus). The same workloads with Captum / Zennit on
// PyTorch CPU: bench/explain_reference.py. Results: bench/RESULTS.md.
// "CPU" is the process's CPU time (all threads, spinning included), so on a shared machine the 1-thread
// CPU time is the number to compare with explain_reference.py's "cpu" column.
#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <vector>

#include "bench/explain_timing.h"
#include "engine/memory.h"

using namespace xdnn;

namespace {

using Opts = std::map<std::string, std::string>;

// Each case runs at batch 1 and 32 as BM_Explain/<name>/<batch>/process_time.
struct Case {
  std::string name, method;
  Opts opts;
};
const std::vector<Case> kCases = {
    {"saliency", "saliency", {}},
    {"integrated_gradients_50", "integrated-gradients", {{"steps", "50"}, {"integration", "gauss-legendre"}}},
    {"grad_cam", "grad-cam", {}},
    {"occlusion_5x5_s3", "occlusion", {{"window", "1,5,5"}, {"stride", "1,3,3"}}},
    {"lrp_epsilon_plus", "lrp", {{"composite", "epsilon-plus"}}},
};

}  // namespace

int main(int argc, char** argv) {
  keep_freed_tensor_memory();  // as the xdnn command line does (engine/memory.h)
  for (const Case& c : kCases)
    benchmark::RegisterBenchmark(("BM_Explain/" + c.name).c_str(),
                                 [c](benchmark::State& state) { bench::time_explanation(state, c.method, c.opts); })
        ->Arg(1)
        ->Arg(32)
        ->MeasureProcessCPUTime()
        ->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
