// Tensor::to(DType) (Backend::cast) on the CPU and, when the CUDA backend is built and a GPU is usable, on
// CUDA, beside the route a device tensor took before the cast entry: a copy to the host, the CPU's
// conversion, a copy back (Google Benchmark; not run in CI):
//   Cast/n/cuda/host_round_trip   float32 (n) -> float64, the conversion explainers make of every input row
// Shapes: a fashion-cnn batch of 64 (50,176 values) and a ResNet-18 batch of 16 at 3x224x224 (2,408,448).
// Run: build/bench/bench_cast --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include "bench/bench_device.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"

using namespace xdnn;

namespace {

void Cast(benchmark::State& state) {
  const int64_t n = state.range(0);
  const bool on_cuda = state.range(1) == 1, host_round_trip = state.range(2) == 1;
  Device device;
  if (!bench_device(state, on_cuda, device)) return;
  const Tensor x = ops::full({n}, 0.25, DType::F32, device);
  for (auto _ : state) {
    const Tensor y = host_round_trip ? x.to(Device::CPU).to(DType::F64).to(device) : x.to(DType::F64);
    if (on_cuda) benchmark::DoNotOptimize(ops::sum_all(y));  // waits for the device (a reduction, both routes)
    benchmark::DoNotOptimize(y);
  }
  state.SetItemsProcessed(state.iterations() * n);
}

}  // namespace

// {n, device (0 CPU, 1 CUDA), through the host (1) or on the device (0)}
BENCHMARK(Cast)
    ->ArgNames({"n", "cuda", "host_round_trip"})
    ->Args({50176, 0, 0})
    ->Args({2408448, 0, 0})
    ->Args({50176, 1, 0})
    ->Args({50176, 1, 1})
    ->Args({2408448, 1, 0})
    ->Args({2408448, 1, 1});

BENCHMARK_MAIN();
