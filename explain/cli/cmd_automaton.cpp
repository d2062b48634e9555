// `xdnn automaton --model CKPT (--trigger N | --input IDS.npy [--labels Y.npy]) [--clusters k] [--out A.txt]`
//
// A recurrent text model as automata (explain/global/automaton_study.h): the k-means finite-state machine of
// its hidden states with its transition table and fidelity to the network (Omlin & Giles 1996), and on the
// trigger task the spectral weighted automaton of one class's probability against the task's known
// automaton (Balle et al. 2014; Ayache et al. 2018). --trigger N: the machine is extracted on N training
// sequences of the checkpoint's trigger task and scored on N test sequences; --input: on the first 70 % of
// the rows and scored on the rest.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "engine/error.h"
#include "engine/file_io.h"
#include "explain/attention.h"
#include "explain/cli/commands.h"
#include "explain/global/automaton_study.h"
#include "models/io/npy.h"
#include "models/io/trigger_task.h"
#include "models/train/checkpoint.h"
#include "models/zoo.h"

namespace xdnn::cli {

namespace {

struct AutomatonArgs {
  std::string model, input, labels, vocab, out;
  int64_t trigger = 0;
  explain::AutomatonStudyOptions options;
  CommonOptions common;
};

void run_automaton(const AutomatonArgs& a) {
  if (!a.out.empty()) check_output_path(a.out, "--out", {a.model, a.input, a.labels, a.vocab});  // before any work
  a.common.apply();
  const Model model = load_checked_model(a.model, a.common.allow_nonfinite);
  explain::recurrent_node(model);  // a model without recurrence fails before any data is read
  Tensor fit, held, held_labels;
  std::vector<std::string> vocabulary;
  if (a.trigger > 0) {
    if (!a.input.empty() || !a.labels.empty())
      throw Error("give either --trigger N or --input (with --labels), not both");
    const Metadata m = read_checkpoint_metadata(a.model);
    if (metadata_get(m, "data", a.model) != "trigger")
      throw Error(a.model + ": not trained on the trigger task (metadata 'data' is '" + m.at("data") + "')",
                  "give its sequences with --input");
    const TextModelConfig c = text_config_from_metadata(m, a.model);
    const uint64_t data_seed = static_cast<uint64_t>(metadata_get_int(m, "data_seed", a.model));
    const text::TriggerSplit split = text::make_trigger_split(c.max_len, c.vocab_size, data_seed, a.trigger, a.trigger);
    fit = split.train.data.ids;
    held = split.test.data.ids;
    held_labels = split.test.data.labels;
    vocabulary = split.train.data.vocab.tokens();
  } else {
    if (a.input.empty()) throw Error("no sequences: give --trigger N (a trigger-task checkpoint) or --input IDS.npy");
    const Tensor x = load_model_input(a.input, "--input", model, a.common.allow_nonfinite);
    if (x.dtype() != DType::I64 || x.ndim() != 2 || x.dim(0) < 4)
      throw Error(a.input + ": expected int64 token ids (N, T) with N ≥ 4, got " + x.describe());
    const int64_t N = x.dim(0), fit_n = N - std::max<int64_t>(1, N * 3 / 10);
    fit = x.slice_batch(0, fit_n);
    held = x.slice_batch(fit_n, N);
    if (!a.labels.empty()) {
      const std::vector<int64_t> y = resolve_target_option(a.labels, model, x);
      held_labels = Tensor::from_vector({N - fit_n}, std::vector<int64_t>(y.begin() + fit_n, y.end()));
    }
    const std::string vocab_path = a.vocab.empty() ? text::vocabulary_path_for_checkpoint(a.model) : a.vocab;
    if (!a.vocab.empty() || std::ifstream(vocab_path).good()) vocabulary = explain::load_vocabulary_tokens(vocab_path);
  }
  const explain::AutomatonStudy s =
      explain::automaton_study(model, fit, held, held_labels, vocabulary, model.class_names, a.options);
  const std::string text = explain::automaton_study_text(s);
  std::fputs(text.c_str(), stdout);
  if (!a.out.empty()) {
    write_file_atomic(a.out, {text});
    print_wrote(a.out, "the automata and their fidelity, text");
  }
}

}  // namespace

void add_automaton_command(CLI::App& app) {
  auto a = std::make_shared<AutomatonArgs>();
  CLI::App* cmd = app.add_subcommand(
      "automaton", "a recurrent text model as a k-means finite-state machine and a spectral weighted automaton");
  if (!builds_options(*cmd)) return;  // see commands.h
  cmd->add_option("--model", a->model, "a recurrent text model: checkpoint of xdnn train --model text-lstm, or ONNX")
      ->required();
  cmd->add_option("--trigger", a->trigger,
                  "N training sequences of the checkpoint's trigger task fit the machine, N test ones score it")
      ->check(between(2, 100000));
  cmd->add_option("--input", a->input, "instead of --trigger: token ids .npy, int64 (N, T)");
  cmd->add_option("--labels", a->labels, "with --input: the true classes, for the accuracy on the held-out rows");
  cmd->add_option("--vocab", a->vocab, "with --input: vocabulary JSON (default: vocab.json beside the checkpoint)");
  cmd->add_option("--clusters", a->options.kmeans.clusters, "k-means states")
      ->capture_default_str()
      ->check(between(1, 4096));
  cmd->add_option("--seed", a->options.kmeans.seed, "k-means++ seed")->capture_default_str();
  cmd->add_option("--wfa-class", a->options.wfa_class, "trigger task: the class whose probability the WFA learns")
      ->capture_default_str()
      ->check(between(0, 1000));
  cmd->add_option("--wfa-rank", a->options.wfa_rank, "WFA states (0: the Hankel matrix's numerical rank)")
      ->capture_default_str()
      ->check(between(0, 64));
  cmd->add_option("--wfa-basis", a->options.wfa_basis, "Hankel basis: all words of length ≤ this")
      ->capture_default_str()
      ->check(between(1, 5));
  cmd->add_option("--wfa-length", a->options.wfa_test_length,
                  "compare the WFA with the network on all words up to this length")
      ->capture_default_str()
      ->check(between(1, 9));
  cmd->add_option("--out", a->out, "write what is printed to this text file");
  add_common_options(cmd, a->common);
  cmd->callback([a] { run_automaton(*a); });
}

}  // namespace xdnn::cli
