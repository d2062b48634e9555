// Explanations scored against ground truth (issue #5 item 5): on the synthetic trigger task
// (models/io/trigger_task.h) the class is decided by the one trigger token of each sequence, so a
// faithful token attribution ranks the trigger first. For every token explainer of the registry, and
// for the LSTM and the Transformer, this prints the share of test samples whose most relevant token
// (argmax of the per-token attribution over the sequence's real tokens) is the trigger.
//
//   bench_ground_truth [--lstm CKPT] [--transformer CKPT] [--samples N] [--epochs E] [--seed S]
//                      [--threads T] [--methods m1,m2,...]
//
// Without a checkpoint the model is trained here exactly as
//   xdnn train --model text-lstm|text-transformer --data trigger --epochs E --seed S
// would train it (same data, sizes and defaults); with one (an `xdnn train --data trigger` checkpoint)
// the test set is regenerated from its metadata (data_seed, max length, vocabulary size).
//
// Per-token reduction: the registry's explainers return (N, T), summed over the embedding dimension d
// (explain/point.h, ../shared/golden/README.md "Token models"). Two columns per model: the argmax of
// the signed attribution (the token that speaks most *for* the target class) and of its magnitude.
// Two extra rows reduce by the L2 norm over d instead (saliency and gradient x input), from the same
// gradient (explain/point.h gradient_at_point). Targets are the true classes.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "engine/parallel.h"
#include "explain/method.h"
#include "explain/point.h"
#include "explain/registry.h"
#include "models/io/npy.h"
#include "models/io/trigger_task.h"
#include "models/load.h"
#include "models/train/checkpoint.h"
#include "models/train/train.h"
#include "models/zoo.h"

using namespace xdnn;

namespace {

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

struct Subject {
  std::string name;  // "LSTM", "Transformer"
  Model model;
  double test_accuracy = 0;
  text::TriggerTask test;
};

Subject make_subject(const std::string& arch, const std::string& checkpoint, int epochs, uint64_t seed) {
  Subject s;
  s.name = arch == "text-lstm" ? "LSTM" : "Transformer";
  if (!checkpoint.empty()) {
    const Metadata m = read_checkpoint_metadata(checkpoint);
    if (metadata_get(m, "data", checkpoint) != "trigger")
      throw Error(checkpoint + ": not trained on the trigger task (metadata 'data' is '" + m.at("data") + "')");
    const TextModelConfig c = text_config_from_metadata(m, checkpoint);
    const uint64_t data_seed = static_cast<uint64_t>(metadata_get_int(m, "data_seed", checkpoint));
    s.model = load_model(checkpoint);
    s.test = text::make_trigger_split(c.max_len, c.vocab_size, data_seed, 0, 1000).test;
  } else {
    const text::TriggerSplit split = text::make_trigger_split(16, -1, 0, 4000, 1000);
    const text::TriggerTask& train = split.train;
    s.test = split.test;
    TextModelConfig c;
    c.vocab_size = train.data.vocab.size();
    c.num_classes = static_cast<int64_t>(train.data.class_names.size());
    c.max_len = 16;
    s.model = build_text_model(arch, c, seed);
    TrainConfig cfg;
    cfg.architecture = arch;
    cfg.epochs = epochs;
    cfg.seed = seed;
    cfg.progress = false;
    const double t0 = now_seconds();
    train_model(s.model, {train.data.ids, train.data.labels}, {}, cfg);
    std::fprintf(stderr, "%s: trained %d epochs in %.1f s\n", arch.c_str(), epochs, now_seconds() - t0);
  }
  s.test_accuracy = evaluate(s.model, {s.test.data.ids, s.test.data.labels}).accuracy;
  return s;
}

// One row of the table: a registry method with options, or an L2-reduced gradient quantity.
struct Config {
  std::string label;
  std::string method;  // registry name; "" for the L2 rows
  std::map<std::string, std::string> options;
  std::string l2;  // "saliency" | "gradient-x-input" for the L2 rows
};

struct Score {
  double signed_hits = -1, abs_hits = -1, seconds = 0;
  std::string error;
};

// (N, T) attribution -> share of samples whose argmax over t < length[n] is the trigger position.
void score(const Tensor& a, const Tensor& lengths, const Tensor& positions, Score& s) {
  const int64_t N = a.dim(0), T = a.dim(1);
  int64_t hit_signed = 0, hit_abs = 0;
  for (int64_t n = 0; n < N; ++n) {
    const int64_t len = lengths.data<int64_t>()[n];
    int64_t best = 0, best_abs = 0;
    for (int64_t t = 1; t < len; ++t) {
      if (a.item(n * T + t) > a.item(n * T + best)) best = t;
      if (std::abs(a.item(n * T + t)) > std::abs(a.item(n * T + best_abs))) best_abs = t;
    }
    hit_signed += best == positions.data<int64_t>()[n];
    hit_abs += best_abs == positions.data<int64_t>()[n];
  }
  s.signed_hits = static_cast<double>(hit_signed) / static_cast<double>(N);
  s.abs_hits = static_cast<double>(hit_abs) / static_cast<double>(N);
}

Score run(const Config& c, const Subject& subj, int64_t samples, const std::string& pad_baseline_path) {
  Score s;
  const Tensor ids = subj.test.data.ids.slice_batch(0, samples);
  const Tensor lengths = subj.test.data.lengths.slice_batch(0, samples);
  const Tensor positions = subj.test.trigger_positions.slice_batch(0, samples);
  explain::ExplainRequest req;
  req.model = &subj.model;
  req.input = ids;
  const Tensor labels = subj.test.data.labels.slice_batch(0, samples);
  req.targets.assign(labels.data<int64_t>(), labels.data<int64_t>() + samples);
  const double t0 = now_seconds();
  try {
    Tensor a;
    if (c.l2.empty()) {
      std::map<std::string, std::string> opts = c.options;
      for (auto& [k, v] : opts)
        if (v == "PAD_EMBEDDING") v = pad_baseline_path;
      const explain::MethodInfo& info = explain::find_method(c.method);
      req.options = explain::resolve_options(info, opts);
      explain::load_option_files(info, req.options);
      a = info.run(req).values;
    } else {
      // ||∂f/∂e_t||₂ or ||e_t ⊙ ∂f/∂e_t||₂ over the embedding dimension.
      const explain::PointGradient pg = explain::gradient_at_point(req, BackwardMode::Gradient);
      const Tensor& g = pg.grad;
      const int64_t N = g.dim(0), T = g.dim(1), d = g.dim(2);
      a = Tensor({N, T}, DType::F64);
      for (int64_t i = 0; i < N * T; ++i) {
        double ss = 0;
        for (int64_t k = 0; k < d; ++k) {
          const double v = g.item(i * d + k) * (c.l2 == "saliency" ? 1.0 : pg.value.item(i * d + k));
          ss += v * v;
        }
        a.set_item(i, std::sqrt(ss));
      }
    }
    if (a.ndim() != 2 || a.dim(0) != samples)
      throw Error("attribution has shape " + a.describe() + ", expected (N, T)");
    score(a, lengths, positions, s);
  } catch (const Error& e) {
    s.error = e.what();
  }
  s.seconds = now_seconds() - t0;
  return s;
}

std::string percent(double v) {
  if (v < 0) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %%", 100.0 * v);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::string lstm_ckpt, transformer_ckpt, only;
  int64_t samples = 200;
  int epochs = 3;
  uint64_t seed = 0;
  std::string methods;
  int threads = num_threads();
  CLI::App app{"bench_ground_truth: every token explainer scored against the trigger task's ground truth"};
  app.add_option("--lstm", lstm_ckpt, "text-lstm checkpoint trained with --data trigger (default: train one)");
  app.add_option("--transformer", transformer_ckpt, "text-transformer checkpoint (default: train one)");
  app.add_option("--samples", samples, "test samples scored")->check(CLI::PositiveNumber);
  app.add_option("--epochs", epochs, "epochs when training here")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed");
  app.add_option("--threads", threads, "threads")->check(CLI::PositiveNumber);
  app.add_option("--methods", methods, "comma-separated subset of the methods");
  CLI11_PARSE(app, argc, argv);
  set_num_threads(threads);
  if (!methods.empty()) only = "," + methods + ",";
  try {
    std::vector<Subject> subjects;
    subjects.push_back(make_subject("text-lstm", lstm_ckpt, epochs, seed));
    subjects.push_back(make_subject("text-transformer", transformer_ckpt, epochs, seed));
    for (auto& s : subjects) samples = std::min(samples, s.test.data.size());

    // The rows: the token explainers with their natural settings, then every other registered method
    // with its defaults (those that do not apply to token models show their error).
    std::vector<Config> configs = {
        {"saliency", "saliency", {}, ""},
        {"saliency, L2 over d", "", {}, "saliency"},
        {"gradient-x-input", "gradient-x-input", {}, ""},
        {"gradient-x-input, L2 over d", "", {}, "gradient-x-input"},
        {"smoothgrad (25 samples, σ 0.15)", "smoothgrad", {}, ""},
        {"integrated-gradients, baseline 0", "integrated-gradients", {{"baseline", "0"}}, ""},
        {"integrated-gradients, baseline <pad> embedding", "integrated-gradients", {{"baseline", "PAD_EMBEDDING"}}, ""},
        {"deeplift, baseline 0", "deeplift", {{"baseline", "0"}}, ""},
        {"occlusion, 1 token, baseline 0", "occlusion", {{"window", "1"}}, ""},
        {"lrp epsilon (LSTM: Arras et al.; attention: AttnLRP)", "lrp", {{"rule", "epsilon"}}, ""},
        {"lrp zplus on Linear layers", "lrp", {{"rule", "zplus"}}, ""},
        {"lrp gamma on Linear layers", "lrp", {{"rule", "gamma"}}, ""},
        {"lrp epsilon, CP-LRP for attention (Ali et al. 2022)",
         "lrp",
         {{"rule", "epsilon"}, {"transformer-rule", "cp"}},
         ""},
        {"erasure, log-prob, embedding set to 0", "erasure", {{"erase", "zero"}}, ""},
        {"erasure, log-prob, id replaced by <pad>", "erasure", {{"erase", "pad"}}, ""},
        {"erasure, log-prob, token removed", "erasure", {{"erase", "remove"}}, ""},
        {"erasure-flip (greedy flip set rank)", "erasure-flip", {}, ""},
        {"attention-rollout, mean over queries", "attention-rollout", {{"query", "mean"}}, ""},
        {"attention (last layer, mean over queries and heads)", "attention", {}, ""},
    };
    for (const auto& m : explain::methods()) {
      bool listed = false;
      for (const auto& c : configs) listed = listed || c.method == m.name;
      if (!listed) configs.push_back({m.name + " (defaults)", m.name, {}, ""});
    }
    if (!only.empty())
      configs.erase(std::remove_if(configs.begin(), configs.end(),
                                   [&](const Config& c) {
                                     const std::string name = c.method.empty() ? c.l2 : c.method;
                                     return only.find("," + name + ",") == std::string::npos;
                                   }),
                    configs.end());

    std::printf("trigger task: %lld test samples per model, targets = true class; chance (1/length): ",
                static_cast<long long>(samples));
    for (auto& s : subjects) {
      double chance = 0;
      for (int64_t n = 0; n < samples; ++n) chance += 1.0 / static_cast<double>(s.test.data.lengths.data<int64_t>()[n]);
      std::printf("%s %.1f %%  ", s.name.c_str(), 100.0 * chance / static_cast<double>(samples));
    }
    std::printf("\ntest accuracy: ");
    for (auto& s : subjects) std::printf("%s %.1f %%  ", s.name.c_str(), 100.0 * s.test_accuracy);
    std::printf(
        "\n\n| method | LSTM top-1 | LSTM top-1 of \\|R\\| | Transformer top-1 | Transformer top-1 of \\|R\\| | "
        "seconds (LSTM / Transformer) |\n|---|---|---|---|---|---|\n");
    std::fflush(stdout);
    std::vector<std::string> errors;
    for (const auto& c : configs) {
      std::string row = "| " + c.label;
      std::string cells, secs;
      for (auto& s : subjects) {
        // The <pad> embedding repeated along the sequence, as a (T, d) baseline shared by all samples.
        const std::string pad_path =
            (std::filesystem::temp_directory_path() / ("xdnn_gt_pad_" + s.name + ".npy")).string();
        if (c.options.count("baseline") && c.options.at("baseline") == "PAD_EMBEDDING") {
          const Tensor& table = s.model.find_param("embedding.weight")->value;
          const int64_t T = s.test.data.ids.dim(1), d = table.dim(1);
          Tensor base({T, d}, table.dtype());
          for (int64_t t = 0; t < T; ++t) base.slice_batch(t, t + 1).copy_from(table.slice_batch(0, 1));
          save_npy(pad_path, base);
        }
        const Score sc = run(c, s, samples, pad_path);
        if (!sc.error.empty()) errors.push_back(c.label + " on " + s.name + ": " + sc.error);
        cells += " | " + percent(sc.signed_hits) + " | " + percent(sc.abs_hits);
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.2f", sc.seconds);
        secs += (secs.empty() ? "" : " / ") + std::string(buf);
      }
      std::printf("%s%s | %s |\n", row.c_str(), cells.c_str(), secs.c_str());
      std::fflush(stdout);
    }
    if (!errors.empty()) {
      std::printf("\nn/a:\n");
      for (const auto& e : errors) std::printf("- %s\n", e.c_str());
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_ground_truth: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
