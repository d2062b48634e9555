// The ops of engine/ops_influence.h on the shapes of last-layer TracIn over fashion-cnn (Google Benchmark; not
// run in CI): a work unit's Gram update against 1,000 test examples and its factor norms.
//   FactoredGram/cosine/threads  ops::factored_gram_accumulate_into, S (1000, 60000) float32, one unit of 128
//                                training examples (K = 10 seeds, in = 784 inputs): 2·1000·128·794 FLOP of
//                                products and the fold of 128,000 elements; cosine 1 adds the norms' division
//   FactorNorms/rows             ops::factor_norms, squared, (rows, 10) and (rows, 784) factors
//   AxpyColumns/accumulate       ops::axpy_columns_into, a (1000, 256) block (a training chunk of the generic
//                                route) into S (1000, 60000) float32, assigned or added
// Run: build/bench/bench_influence_ops --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include "engine/ops.h"
#include "engine/ops_influence.h"
#include "engine/parallel.h"
#include "engine/random.h"

namespace {

using namespace xdnn;

constexpr int64_t kTest = 1000, kTrain = 60000, kUnit = 128, kSeeds = 10, kInputs = 784;

Tensor filled(const Shape& shape, Rng& rng) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& x : v) x = static_cast<float>(rng.normal());
  return Tensor::from_vector(shape, v);
}

void FactoredGram(benchmark::State& state) {
  const bool cosine = state.range(0) != 0;
  const int threads_before = num_threads();
  set_num_threads(static_cast<int>(state.range(1)));
  Rng rng(1);
  const Tensor test_delta = filled({kTest, kSeeds}, rng), test_act = filled({kTest, kInputs}, rng);
  const Tensor train_delta = filled({kUnit, kSeeds}, rng), train_act = filled({kUnit, kInputs}, rng);
  const Tensor test_norm = cosine ? ops::factor_norms(test_delta, test_act, 1.0, false) : Tensor();
  const Tensor train_norm = cosine ? ops::factor_norms(train_delta, train_act, 1.0, false) : Tensor();
  Tensor S = Tensor::empty({kTest, kTrain});
  int64_t col0 = 0;
  for (auto _ : state) {
    ops::factored_gram_accumulate_into(S, col0, test_delta, test_act, train_delta, train_act, 1.0, 0.1, true, test_norm,
                                       train_norm);
    col0 = (col0 + kUnit) % (kTrain - kUnit);  // a new stripe each call, as the route writes them
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * kTest * kUnit * (kSeeds + kInputs), benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
  set_num_threads(threads_before);
}
BENCHMARK(FactoredGram)
    ->ArgsProduct({{0, 1}, {1, 2}})
    ->ArgNames({"cosine", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void FactorNorms(benchmark::State& state) {
  const int64_t rows = state.range(0);
  Rng rng(2);
  const Tensor delta = filled({rows, kSeeds}, rng), act = filled({rows, kInputs}, rng);
  for (auto _ : state) benchmark::DoNotOptimize(ops::factor_norms(delta, act, 1.0, true));
}
BENCHMARK(FactorNorms)->Arg(kUnit)->Arg(kTest)->ArgName("rows")->UseRealTime()->Unit(benchmark::kMicrosecond);

void AxpyColumns(benchmark::State& state) {
  const bool accumulate = state.range(0) != 0;
  Rng rng(3);
  const Tensor block = filled({kTest, 256}, rng);
  Tensor S = Tensor::empty({kTest, kTrain});
  int64_t col0 = 0;
  for (auto _ : state) {
    ops::axpy_columns_into(S, col0, 0.1, block, accumulate);
    col0 = (col0 + 256) % (kTrain - 256);
  }
  state.SetBytesProcessed(state.iterations() * kTest * 256 * static_cast<int64_t>(sizeof(float)) *
                          (accumulate ? 3 : 2));
}
BENCHMARK(AxpyColumns)->Arg(0)->Arg(1)->ArgName("accumulate")->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
