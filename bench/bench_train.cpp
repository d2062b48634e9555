// Training benchmarks (Google Benchmark; not run in CI):
//   FashionCnnStep/B      forward (training mode) + cross-entropy + backward with parameter gradients of
//                         fashion-cnn at batch B (no optimizer step), default thread count, wall time, images/s
//   Conv2dFwdBwd/.../T    one Conv2d layer forward + backward (input and weight gradients) at batch 64
//                         on T threads, GFLOP/s = 3 · 2·N·O·OH·OW·C·KH·KW / time (T = 1: CPU time; T = 2: wall)
//                         (forward, input grad and weight grad each cost one forward's multiply-adds)
//   LinearFwdBwd/.../T    the same for Linear: 3 · 2·N·in·out
//   EigenSgemm/...        the reference: Eigen::MatrixXf products with exactly the multiply-add count of the
//                         layer benchmark of the same name (the three GEMMs of im2col fwd/bwd, batch folded
//                         into the columns), single-threaded (Eigen is built without OpenMP here)
//   TrainEpoch/T          one epoch of fashion-cnn training (Adam 1e-3, batch 64) on the first 10,000
//                         Fashion-MNIST training images on T threads; s_per_60k (wall) and cpu_s_per_60k (process
//                         CPU time, all threads) scale it to a full 60,000-image epoch
// Run: build-x/bench/bench_train --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

// Eigen 3.4's AVX bf16 path trips -Wunused-variable; the header is not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#include <Eigen/Dense>
#pragma GCC diagnostic pop
#include <ctime>

#include "engine/parallel.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "models/io/fashion_mnist.h"
#include "models/train/train.h"
#include "models/zoo.h"

using namespace xdnn;

namespace {

Tensor random_input(const Shape& s, uint64_t seed) {
  Rng rng(seed);
  Tensor t(s);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(rng.uniform());
  return t;
}

// Restores the thread count after a benchmark that changed it.
struct Threads {
  int saved;
  explicit Threads(int n) : saved(num_threads()) { set_num_threads(n); }
  ~Threads() { set_num_threads(saved); }
};

void FashionCnnStep(benchmark::State& state) {
  const int64_t B = state.range(0);
  Model m = build_zoo_model("fashion-cnn", 0);
  Tensor x = random_input({B, 1, 28, 28}, 1);
  Tensor y({B}, DType::I64);
  for (int64_t i = 0; i < B; ++i) y.set_item(i, static_cast<double>(i % 10));
  ForwardOptions fo;
  fo.training = true;
  BackwardOptions bo;
  bo.param_grad = ParamGrad::Accumulate;
  bo.input_grad = false;  // as training does: no gradient w.r.t. the images
  const int out = m.outputs()[0];
  for (auto _ : state) {
    Tape t = m.forward({x}, fo);
    Tensor g;
    benchmark::DoNotOptimize(softmax_cross_entropy(t.values[out], y, &g));
    for (Param* p : m.params()) p->grad = Tensor();
    m.backward(t, {{out, g}}, bo);
  }
  state.counters["images/s"] =
      benchmark::Counter(static_cast<double>(B), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(FashionCnnStep)->Arg(1)->Arg(64)->Unit(benchmark::kMicrosecond)->UseRealTime();

struct ConvCase {
  const char* name;
  int64_t C, O, H;  // 3x3, padding 1, stride 1, square H x H
};
const ConvCase kConvCases[] = {
    {"cnn.conv1 1->8 28x28", 1, 8, 28},
    {"cnn.conv2 8->16 14x14", 8, 16, 14},
    {"resnet.conv2 16->32 14x14", 16, 32, 14},
    {"resnet.block 32->32 7x7", 32, 32, 7},
};
constexpr int64_t kBatch = 64;

// One forward and one backward of `layer` per iteration, parameter gradients accumulated from zero; the rate
// counter is `flops` per iteration.
void time_forward_backward(benchmark::State& state, Layer& layer, const Tensor& x, const Tensor& gy, const char* label,
                           double flops) {
  BackwardOptions bo;
  bo.param_grad = ParamGrad::Accumulate;
  for (auto _ : state) {
    Saved saved;
    auto y = layer.forward({x}, saved, {});
    benchmark::DoNotOptimize(y[0].raw_data());
    for (Param* p : layer.params()) p->grad = Tensor();
    auto gx = layer.backward({gy}, saved, bo);
    benchmark::DoNotOptimize(gx[0].raw_data());
  }
  state.SetLabel(label);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

double conv_flops(const ConvCase& c) { return 3.0 * 2.0 * kBatch * c.O * c.H * c.H * c.C * 9; }

void Conv2dFwdBwd(benchmark::State& state) {
  const ConvCase& c = kConvCases[state.range(0)];
  Threads threads(static_cast<int>(state.range(1)));
  Rng rng(0);
  Conv2d conv("conv", c.C, c.O, 3, 3, Conv2dOptions::same(1, 1));
  conv.init(rng);
  Tensor x = random_input({kBatch, c.C, c.H, c.H}, 2), gy = random_input({kBatch, c.O, c.H, c.H}, 3);
  time_forward_backward(state, conv, x, gy, c.name, conv_flops(c));
}
// One thread: rates from CPU time (robust on a shared machine); two threads: from wall time.
BENCHMARK(Conv2dFwdBwd)->ArgsProduct({{0, 1, 2, 3}, {1}})->ArgNames({"case", "threads"})->Unit(benchmark::kMicrosecond);
BENCHMARK(Conv2dFwdBwd)
    ->ArgsProduct({{0, 1, 2, 3}, {2}})
    ->ArgNames({"case", "threads"})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// The three GEMMs of a conv's forward / input-grad / weight-grad with the batch folded into the columns:
//   Y (O, NP) = W (O, K) X (K, NP);  dX (K, NP) = Wᵀ (K, O) dY (O, NP);  dW (O, K) = dY (O, NP) Xᵀ (NP, K)
void EigenSgemmConv(benchmark::State& state) {
  const ConvCase& c = kConvCases[state.range(0)];
  const Eigen::Index O = c.O, K = c.C * 9, NP = kBatch * c.H * c.H;
  Eigen::MatrixXf W = Eigen::MatrixXf::Random(O, K), X = Eigen::MatrixXf::Random(K, NP),
                  dY = Eigen::MatrixXf::Random(O, NP);
  Eigen::MatrixXf Y(O, NP), dX(K, NP), dW(O, K);
  for (auto _ : state) {
    Y.noalias() = W * X;
    dX.noalias() = W.transpose() * dY;
    dW.noalias() = dY * X.transpose();
    benchmark::DoNotOptimize(Y.data());
    benchmark::DoNotOptimize(dX.data());
    benchmark::DoNotOptimize(dW.data());
  }
  state.SetLabel(c.name);
  state.counters["GFLOP/s"] = benchmark::Counter(conv_flops(c) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(EigenSgemmConv)->DenseRange(0, 3)->ArgName("case")->Unit(benchmark::kMicrosecond);

struct LinearCase {
  const char* name;
  int64_t in, out;
};
const LinearCase kLinearCases[] = {
    {"cnn.fc 784->10", 784, 10},
    {"mlp.fc1 784->64", 784, 64},
    {"resnet.fc1 1568->128", 1568, 128},
    {"1024->1024", 1024, 1024},
};
double linear_flops(const LinearCase& c) { return 3.0 * 2.0 * kBatch * c.in * c.out; }

void LinearFwdBwd(benchmark::State& state) {
  const LinearCase& c = kLinearCases[state.range(0)];
  Threads threads(static_cast<int>(state.range(1)));
  Rng rng(0);
  Linear fc("fc", c.in, c.out);
  fc.init(rng);
  Tensor x = random_input({kBatch, c.in}, 2), gy = random_input({kBatch, c.out}, 3);
  time_forward_backward(state, fc, x, gy, c.name, linear_flops(c));
}
BENCHMARK(LinearFwdBwd)->ArgsProduct({{0, 1, 2, 3}, {1}})->ArgNames({"case", "threads"})->Unit(benchmark::kMicrosecond);
BENCHMARK(LinearFwdBwd)
    ->ArgsProduct({{0, 1, 2, 3}, {2}})
    ->ArgNames({"case", "threads"})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

//   Y (N, out) = X (N, in) Wᵀ;  dX (N, in) = dY (N, out) W (out, in);  dW (out, in) = dYᵀ (out, N) X (N, in)
void EigenSgemmLinear(benchmark::State& state) {
  const LinearCase& c = kLinearCases[state.range(0)];
  Eigen::MatrixXf W = Eigen::MatrixXf::Random(c.out, c.in), X = Eigen::MatrixXf::Random(kBatch, c.in),
                  dY = Eigen::MatrixXf::Random(kBatch, c.out);
  Eigen::MatrixXf Y(kBatch, c.out), dX(kBatch, c.in), dW(c.out, c.in);
  for (auto _ : state) {
    Y.noalias() = X * W.transpose();
    dX.noalias() = dY * W;
    dW.noalias() = dY.transpose() * X;
    benchmark::DoNotOptimize(Y.data());
    benchmark::DoNotOptimize(dX.data());
    benchmark::DoNotOptimize(dW.data());
  }
  state.SetLabel(c.name);
  state.counters["GFLOP/s"] = benchmark::Counter(linear_flops(c) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(EigenSgemmLinear)->DenseRange(0, 3)->ArgName("case")->Unit(benchmark::kMicrosecond);

void TrainEpoch(benchmark::State& state) {
  Threads threads(static_cast<int>(state.range(0)));
  LabeledImages tr;
  try {
    tr = load_fashion_mnist("train", "", 10000);
  } catch (const Error& e) {
    state.SkipWithError(e.what());
    return;
  }
  TrainConfig cfg;
  cfg.architecture = "fashion-cnn";
  cfg.progress = false;
  cfg.epochs = 1;
  double total = 0, cpu = 0;
  for (auto _ : state) {
    Model m = build_zoo_model(cfg.architecture, 0);
    const std::clock_t c0 = std::clock();  // process CPU time, all threads
    auto r = train_model(m, {tr.images, tr.labels}, {}, cfg);
    cpu += static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    state.SetIterationTime(r.at(0).seconds);
    total += r.at(0).seconds;
  }
  state.counters["s_per_60k"] = 6.0 * total / static_cast<double>(state.iterations());
  state.counters["cpu_s_per_60k"] = 6.0 * cpu / static_cast<double>(state.iterations());
}
BENCHMARK(TrainEpoch)->Arg(1)->Arg(2)->ArgName("threads")->UseManualTime()->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
