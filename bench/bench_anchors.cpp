// Anchors (explain/anchors.cpp) on the trigger task's text models, where the answer is known: the class
// is decided by the one trigger token of each sequence, so the ideal anchor is exactly "the trigger token
// at its position" (precision 1, coverage 1 − replace-prob). For each checkpoint (`xdnn train --data
// trigger`), on its first N test sequences, with the default settings and --pad-id 0, this prints the share
// of anchors that hold the trigger, the share that are exactly the trigger, the mean precision, coverage,
// number of predicates and model evaluations, and the seconds per sample (wall and process CPU).
//
//   bench_anchors --model CKPT [--model CKPT2 ...] [--samples N] [--threads T] [--option K=V ...]
//
// The tabular half (a trained MLP, anchor-exp as the peer): bench/anchors_reference.py. Results: bench/RESULTS.md.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/parallel.h"
#include "explain/registry.h"
#include "explain/targets.h"
#include "models/io/trigger_task.h"
#include "models/load.h"
#include "models/train/checkpoint.h"
#include "models/zoo.h"

using namespace xdnn;

namespace {

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

void run_checkpoint(const std::string& checkpoint, int64_t samples, const std::map<std::string, std::string>& given) {
  const Metadata meta = read_checkpoint_metadata(checkpoint);
  if (metadata_get(meta, "data", checkpoint) != "trigger")
    throw Error(checkpoint + ": not trained on the trigger task (metadata 'data' is '" + meta.at("data") + "')");
  const TextModelConfig c = text_config_from_metadata(meta, checkpoint);
  const uint64_t data_seed = static_cast<uint64_t>(metadata_get_int(meta, "data_seed", checkpoint));
  const Model model = load_model(checkpoint);
  const text::TriggerTask test = text::make_trigger_split(c.max_len, c.vocab_size, data_seed, 0, samples).test;
  const int64_t N = test.data.ids.dim(0);

  explain::ExplainRequest req;
  req.model = &model;
  req.input = test.data.ids;
  req.targets = explain::argmax_rows(model.predict(req.input));  // the model's own predictions, as explained
  std::map<std::string, std::string> opts = {{"pad-id", "0"}};
  for (const auto& [k, v] : given) opts[k] = v;
  const explain::MethodInfo& anchors = explain::find_method("anchors");
  req.options = explain::resolve_options(anchors, opts);
  const double w0 = wall_seconds(), c0 = cpu_seconds();
  const explain::Attribution a = anchors.run(req);
  const double wall = wall_seconds() - w0, cpu = cpu_seconds() - c0;

  const nlohmann::json rules = nlohmann::json::parse(a.parameters.at("rules"));
  int64_t holds = 0, exact = 0, met = 0, correct = 0;
  double precision = 0, coverage = 0, size = 0, evaluations = 0;
  for (int64_t n = 0; n < N; ++n) {
    const nlohmann::json& r = rules[n];
    const int64_t trigger = test.trigger_positions.data<int64_t>()[n];
    bool has = false;
    for (const auto& p : r["predicates"]) has = has || p["feature"].get<int64_t>() == trigger;
    holds += has;
    exact += has && r["predicates"].size() == 1;
    met += r["precision_met"].get<bool>();
    correct += req.targets[n] == test.data.labels.data<int64_t>()[n];
    precision += r["precision"].get<double>();
    coverage += r["coverage"].get<double>();
    size += static_cast<double>(r["predicates"].size());
    evaluations += r["samples"].get<double>();
  }
  const double dn = static_cast<double>(N);
  std::printf("| %s | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.3f | %.3f | %.2f | %.0f | %.3f / %.3f |\n",
              checkpoint.c_str(), 100.0 * correct / dn, 100.0 * holds / dn, 100.0 * exact / dn, 100.0 * met / dn,
              precision / dn, coverage / dn, size / dn, evaluations / dn, wall / dn, cpu / dn);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> checkpoints, option_texts;
  int64_t samples = 100;
  int threads = num_threads();
  CLI::App app{"bench_anchors: anchors on trigger-task text models, against the known trigger"};
  app.add_option("--model", checkpoints, "text-lstm / text-transformer checkpoint trained with --data trigger")
      ->required();
  app.add_option("--samples", samples, "test sequences explained")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "threads")->check(CLI::PositiveNumber);
  app.add_option("--option", option_texts, "anchors option K=V (e.g. beam-width=1)");
  CLI11_PARSE(app, argc, argv);
  set_num_threads(threads);
  try {
    std::map<std::string, std::string> given;
    for (const std::string& o : option_texts) {
      const size_t eq = o.find('=');
      if (eq == std::string::npos) throw Error("--option " + o + ": expected K=V");
      given[o.substr(0, eq)] = o.substr(eq + 1);
    }
    std::printf("anchors on the first %lld test sequences, %d thread(s), options pad-id=0",
                static_cast<long long>(samples), threads);
    for (const auto& [k, v] : given) std::printf(" %s=%s", k.c_str(), v.c_str());
    std::printf(" (later ones win)");
    std::printf(
        "\n\n| checkpoint | model accuracy | anchor holds the trigger | anchor = the trigger alone | precision >= tau "
        "| mean precision | mean coverage | mean predicates | mean model evaluations | s per sample (wall / CPU) "
        "|\n|---|---|---|---|---|---|---|---|---|---|\n");
    for (const std::string& c : checkpoints) run_checkpoint(c, samples, given);
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_anchors: %s\n", e.what());
    return 1;
  }
  return 0;
}
