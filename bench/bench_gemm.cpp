// GEMM micro-kernels on the shapes xdnn spends its time in (Google Benchmark; not run in CI):
//   Gemm/shape/kernel/threads   cpu::gemm with the 256-bit (kernel 0) or 512-bit (kernel 1) micro-kernel
//                               on 1 or 2 threads; GFLOP/s = 2·M·N·K / wall time
//   EigenGemm/shape             the same product with Eigen::MatrixXf (single-threaded, built for the same
//                               -march as xdnn: AVX2 + FMA by default), the reference of bench_train
// Shapes (M x N x K, op(A), op(B)):
//   0 tracin-gram        1000 x 256 x 784, A Bᵀ  last-layer TracIn: test activations · a chunk of train ones
//   1 conv2-forward      16 x 1568 x 72         fashion-cnn conv2 at 8 samples per chunk: W · columns
//   2 conv2-weight-grad  72 x 16 x 1568, A Bᵀ   columns · gyᵀ (the weight gradient, transposed)
//   3 conv2-input-grad   72 x 1568 x 16, Aᵀ B   Wᵀ · gy (the column gradient)
//   4 conv1-forward      8 x 1568 x 9           conv1 at 2 samples per chunk
//   5 square             512 x 512 x 512        for comparison with published GEMM figures
// A kernel the CPU lacks is skipped with a message (state.SkipWithError).
// Run: build/bench/bench_gemm --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

// Eigen 3.4's AVX bf16 path trips -Wunused-variable; the header is not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#include <Eigen/Dense>
#pragma GCC diagnostic pop
#include <vector>

#include "engine/cpu/gemm.h"
#include "engine/parallel.h"

namespace {

struct Shape {
  const char* name;
  int64_t M, N, K;
  bool ta, tb;
};

const Shape kShapes[] = {
    {"tracin-gram", 1000, 256, 784, false, true},     {"conv2-forward", 16, 1568, 72, false, false},
    {"conv2-weight-grad", 72, 16, 1568, false, true}, {"conv2-input-grad", 72, 1568, 16, true, false},
    {"conv1-forward", 8, 1568, 9, false, false},      {"square", 512, 512, 512, false, false},
};

std::vector<float> filled(int64_t n, float scale) {
  std::vector<float> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i) v[i] = scale * static_cast<float>(static_cast<int64_t>(i % 17) - 8);
  return v;
}

void Gemm(benchmark::State& state) {
  const Shape& s = kShapes[state.range(0)];
  const auto kernel = state.range(1) ? xdnn::cpu::GemmKernel::Vec512 : xdnn::cpu::GemmKernel::Vec256;
  if (!xdnn::cpu::gemm_kernel_available(kernel)) {
    state.SkipWithError("this CPU or build has no AVX-512F kernel");
    return;
  }
  const xdnn::cpu::GemmKernel before = xdnn::cpu::gemm_kernel();
  const int threads_before = xdnn::num_threads();
  xdnn::cpu::set_gemm_kernel(kernel);
  xdnn::set_num_threads(static_cast<int>(state.range(2)));
  const std::vector<float> A = filled(s.M * s.K, 0.01f), B = filled(s.K * s.N, 0.02f);
  std::vector<float> C(static_cast<size_t>(s.M * s.N));
  for (auto _ : state) {
    xdnn::cpu::gemm<float>(s.ta, s.tb, s.M, s.N, s.K, 1.f, A.data(), s.ta ? s.M : s.K, B.data(), s.tb ? s.K : s.N, 0.f,
                           C.data(), s.N);
    benchmark::DoNotOptimize(C.data());
  }
  xdnn::cpu::set_gemm_kernel(before);
  xdnn::set_num_threads(threads_before);
  state.SetLabel(std::string(s.name) + " " + xdnn::cpu::gemm_kernel_name(kernel));
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * s.M * s.N * s.K, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(Gemm)
    ->ArgsProduct({{0, 1, 2, 3, 4, 5}, {0, 1}, {1, 2}})
    ->ArgNames({"shape", "kernel", "threads"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void EigenGemm(benchmark::State& state) {
  const Shape& s = kShapes[state.range(0)];
  // Column-major Eigen: C (M x N) = op(A) op(B) with the operands stored as xdnn stores them.
  const Eigen::MatrixXf A = Eigen::MatrixXf::Random(s.ta ? s.K : s.M, s.ta ? s.M : s.K);
  const Eigen::MatrixXf B = Eigen::MatrixXf::Random(s.tb ? s.N : s.K, s.tb ? s.K : s.N);
  Eigen::MatrixXf C(s.M, s.N);
  for (auto _ : state) {
    if (s.ta)
      C.noalias() = A.transpose() * B;
    else if (s.tb)
      C.noalias() = A * B.transpose();
    else
      C.noalias() = A * B;
    benchmark::DoNotOptimize(C.data());
  }
  state.SetLabel(s.name);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * s.M * s.N * s.K, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(EigenGemm)->DenseRange(0, 5)->ArgName("shape")->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
