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
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
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

void BM_Model(benchmark::State& state, std::shared_ptr<Model> model, std::string method, int64_t n, int64_t size) {
  const Tensor x = uniform_input(n, size);
  if (method == "forward") {
    for (auto _ : state) {
      Tape tape = model->forward({x});
      benchmark::DoNotOptimize(tape.values.back().raw_data());
    }
  } else {
    const explain::MethodInfo& info = explain::find_method(registry_name(method));
    explain::ExplainRequest req;
    req.model = model.get();
    req.input = x;
    for (int64_t i = 0; i < n; ++i) req.targets.push_back(i % 1000);
    req.options = explain::resolve_options(info, options_for(method));
    for (auto _ : state) {
      Tensor a = info.run(req).values;
      benchmark::DoNotOptimize(a.raw_data());
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_tensor_memory();  // as the xdnn command line does (engine/memory.h)
  std::string dir;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--models") == 0 && i + 1 < argc)
      dir = argv[++i];
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
        benchmark::RegisterBenchmark(name.c_str(), BM_Model,
                                     fuse   ? fused
                                     : fold ? folded
                                            : model,
                                     method, n, w.size)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
  }
  int rc = static_cast<int>(rest.size());
  benchmark::Initialize(&rc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rc, rest.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
