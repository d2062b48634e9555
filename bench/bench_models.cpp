// Milliseconds per call on real models imported from ONNX: torchvision ResNet-18 (3x64x64 and
// 3x224x224, batch 1 and 16), VGG-11 and MobileNetV2 (3x224x224, batch 1); forward, saliency,
// integrated gradients with 16 steps, Grad-CAM (last 4-D activation), LRP epsilon-plus and epsilon-gamma-box, all
// through the method registry (what `xdnn explain` runs). The same workloads on PyTorch + Captum / Zennit:
// bench/models_reference.py; the ONNX files come from bench/export_models.py (not committed: 47-530 MB).
//
// Each case runs on the graph explain/inference_graph.h picks for it, as `xdnn run` / `xdnn explain` do:
// BatchNorm folded into its convolution for the forward pass, saliency and IG, and for the forward pass
// its convolutions fused with their residual Add and ReLU / Clip (models/fuse_epilogues.h), as exported
// for Grad-CAM and LRP (the default exports are folded by PyTorch's exporter already; the `-bn` export of
// `bench/export_models.py --keep-bn` is not, and its "forward-unfolded" case runs its graph as exported).
//
// Run:  build/bench/bench_models --models DIR [--benchmark_filter=...] [--benchmark_repetitions=N]
// Cases whose file is missing from DIR are not registered (the program says which it skipped). Inputs
// are uniform [0, 1) from a fixed seed; targets are i % 1000.
//
// Paired timing: `--serve` runs no benchmark; it prints "ready", then reads case names from standard input,
// one per line, runs that case once and prints its wall time in milliseconds (a case's input and request
// are built on its first line, untimed). bench/models_reference.py --paired alternates one PyTorch call and
// one of these, so both sides of a ratio are timed within a second of each other: on a shared host whose
// speed drifts by 20-40 % from one minute to the next, ratios of medians taken minutes apart moved by 0.3-0.4.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/memory.h"
#include "engine/random.h"
#include "explain/inference_graph.h"
#include "explain/method.h"
#include "explain/registry.h"
#include "models/load.h"

using namespace xdnn;

namespace {

using Opts = std::map<std::string, std::string>;

struct Workload {
  std::string file;  // in --models DIR
  int64_t size;      // input height = width
  std::vector<int64_t> batches;
  std::vector<std::string> methods;  // "forward" or a registry method name with options below
};

// Options per case: IG with 16 Gauss-Legendre nodes (Captum's "gausslegendre"), LRP epsilon-plus, and the
// case "lrp-gamma-box": LRP with the epsilon-gamma-box composite (issue 15's second LRP measure).
Opts options_for(const std::string& method) {
  if (method == "integrated-gradients") return {{"steps", "16"}, {"integration", "gauss-legendre"}};
  if (method == "lrp") return {{"composite", "epsilon-plus"}};
  if (method == "lrp-gamma-box") return {{"composite", "epsilon-gamma-box"}};
  return {};
}

// The registry method a case runs.
std::string registry_name(const std::string& method) { return method == "lrp-gamma-box" ? "lrp" : method; }

Tensor uniform_input(int64_t n, int64_t size) {
  Rng rng(3);
  Tensor x({n, 3, size, size}, DType::F32);
  float* p = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = static_cast<float>(rng.uniform());
  return x;
}

// One call of a case: the forward pass of `model`, or `method` through the registry, on n inputs of size².
std::function<void()> case_call(std::shared_ptr<Model> model, const std::string& method, int64_t n, int64_t size) {
  const Tensor x = uniform_input(n, size);
  if (method == "forward")
    return [model, x] {
      Tape tape = model->forward({x});
      benchmark::DoNotOptimize(tape.values.back().raw_data());
    };
  const explain::MethodInfo& info = explain::find_method(registry_name(method));
  explain::ExplainRequest req;
  req.model = model.get();
  req.input = x;
  for (int64_t i = 0; i < n; ++i) req.targets.push_back(i % 1000);
  req.options = explain::resolve_options(info, options_for(method));
  return [&info, req] {
    Tensor a = info.run(req).values;
    benchmark::DoNotOptimize(a.raw_data());
  };
}

struct Case {
  std::shared_ptr<Model> model;
  std::string method;
  int64_t n, size;
};

void BM_Model(benchmark::State& state, Case c) {
  const std::function<void()> call = case_call(c.model, c.method, c.n, c.size);
  for (auto _ : state) call();
  state.SetItemsProcessed(state.iterations() * c.n);
}

// --serve: a case name per input line, one call of it, its wall milliseconds per output line (see the top).
int serve(const std::map<std::string, Case>& cases) {
  std::map<std::string, std::function<void()>> calls;
  std::printf("ready\n");
  std::fflush(stdout);
  for (std::string name; std::getline(std::cin, name);) {
    const auto c = cases.find(name);
    if (c == cases.end()) {
      std::printf("error: no case named '%s'\n", name.c_str());
      std::fflush(stdout);
      continue;
    }
    auto call = calls.find(name);
    if (call == calls.end())
      call = calls.emplace(name, case_call(c->second.model, c->second.method, c->second.n, c->second.size)).first;
    const auto t0 = std::chrono::steady_clock::now();
    call->second();
    const std::chrono::duration<double, std::milli> ms = std::chrono::steady_clock::now() - t0;
    std::printf("%.4f\n", ms.count());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_tensor_memory();  // as the xdnn command line does (engine/memory.h)
  std::string dir;
  bool serving = false;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--models") == 0 && i + 1 < argc)
      dir = argv[++i];
    else if (std::strcmp(argv[i], "--serve") == 0)
      serving = true;
    else
      rest.push_back(argv[i]);
  }
  if (dir.empty()) {
    std::fprintf(stderr, "bench_models: --models DIR is required (files from bench/export_models.py)\n");
    return 2;
  }
  const std::vector<std::string> all = {"forward",  "saliency", "integrated-gradients",
                                        "grad-cam", "lrp",      "lrp-gamma-box"};
  const std::vector<Workload> workloads = {
      {"resnet18-64.onnx", 64, {1, 16}, all},
      {"resnet18-224.onnx", 224, {1, 16}, all},
      {"vgg11-224.onnx", 224, {1}, all},
      {"mobilenet_v2-224.onnx", 224, {1}, all},
      {"mobilenet_v2-224-bn.onnx", 224, {1}, {"forward", "forward-unfolded"}},
  };
  std::map<std::string, Case> cases;
  for (const Workload& w : workloads) {
    const std::string path = dir + "/" + w.file;
    if (!std::filesystem::exists(path)) {
      std::fprintf(stderr, "bench_models: %s not found, its cases are skipped\n", path.c_str());
      continue;
    }
    std::shared_ptr<Model> model, folded, fused;  // fused: the forward-only graph of `run` (no backward pass)
    try {
      model = std::make_shared<Model>(load_onnx(path));
      folded = std::make_shared<Model>(explain::inference_graph(*model, "saliency"));
      fused = std::make_shared<Model>(explain::inference_graph(*model, "run"));
      for (Model* m : {model.get(), folded.get(), fused.get()}) m->freeze();  // as `xdnn explain` does
    } catch (const Error& e) {
      std::fprintf(stderr, "bench_models: %s; its cases are skipped\n", e.what());
      continue;
    }
    const std::string stem = w.file.substr(0, w.file.size() - 5);
    for (int64_t n : w.batches)
      for (const std::string& m : w.methods) {
        // IG-16 at 224x224 batch 16 runs 256 full-size images per call: left to batch 1.
        if (m == "integrated-gradients" && w.size == 224 && n > 1) continue;
        const std::string name = stem + "/b" + std::to_string(n) + "/" + (m == "integrated-gradients" ? "ig16" : m);
        const std::string method = m == "forward-unfolded" ? "forward" : m;
        const std::string consumer = m == "forward" ? "run" : registry_name(m);
        const bool fold = m != "forward-unfolded" && explain::may_fold_batchnorm(consumer);
        const bool fuse = m != "forward-unfolded" && explain::may_fuse_epilogues(consumer);
        cases[name] = Case{fuse ? fused : fold ? folded : model, method, n, w.size};
        benchmark::RegisterBenchmark(name.c_str(), BM_Model, cases[name])->Unit(benchmark::kMillisecond)->UseRealTime();
      }
  }
  if (serving) return serve(cases);
  int rc = static_cast<int>(rest.size());
  benchmark::Initialize(&rc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rc, rest.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
