// ops::stable_rank_last_axis (engine/ops_sort.h) on the rows it serves and beyond (Google Benchmark; not run
// in CI):
//   Rank/rows/L/device   float64 (rows, L) of random values, ties included (1 in 4 values repeats one of
//                        8 levels), on the CPU (one stable sort a row, O(L log L)) or, when the CUDA backend is
//                        built and a GPU is usable, on CUDA (one thread an element counting its rank, O(L²))
// Shapes: extremal perturbation's mask at its default scale 4 on fashion-cnn (7x7 = 49 cells) and on a
// 224x224 picture (56x56 = 3,136), 8 samples; a 28x28 mask (scale 1); one row of a whole 3x224x224
// attribution, which only the CPU route serves (150,528² comparisons are no job for the counting twin).
// Run: build/bench/bench_sort --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <vector>

#include "bench/bench_device.h"
#include "engine/ops_sort.h"
#include "engine/random.h"

using namespace xdnn;

namespace {

Tensor tied_rows(int64_t rows, int64_t L) {
  Rng rng(3);
  std::vector<double> v(static_cast<size_t>(rows * L));
  for (double& e : v) e = rng.below(4) == 0 ? static_cast<double>(rng.below(8)) / 8.0 : rng.uniform();
  return Tensor::from_vector({rows, L}, v);
}

void Rank(benchmark::State& state) {
  const int64_t rows = state.range(0), L = state.range(1);
  const bool on_cuda = state.range(2) == 1;
  Device device;
  if (!bench_device(state, on_cuda, device)) return;
  const Tensor x = tied_rows(rows, L).to(device);
  for (auto _ : state) {
    Tensor r = ops::stable_rank_last_axis(x);
    if (on_cuda) r = r.to(Device::CPU);  // waits for the kernel: the time of the ranks on the host
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations() * rows * L);
}

}  // namespace

// {rows, L, device (0 CPU, 1 CUDA)}
BENCHMARK(Rank)
    ->ArgNames({"rows", "L", "cuda"})
    ->Args({8, 49, 0})
    ->Args({8, 784, 0})
    ->Args({8, 3136, 0})
    ->Args({1, 150528, 0})
    ->Args({8, 49, 1})
    ->Args({8, 784, 1})
    ->Args({8, 3136, 1})
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
