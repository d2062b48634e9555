// One function per CLI command, each in its own explain/cli/cmd_<name>.cpp: it declares the command's
// options on `app` and sets a callback that calls the library. main.cpp only lists them.
#pragma once
#include <CLI/CLI.hpp>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "explain/method.h"
#include "models/model.h"

namespace xdnn::cli {

// Present when the corresponding cmd_*.cpp is compiled in; main.cpp calls each. Each adds its subcommand
// (name and one-line description: all that `xdnn --help` shows) and returns at once unless
// builds_options(*cmd): only the command being run declares its options and callback, because declaring
// all eighteen commands' options cost ~2 ms of every start (issue 15: `xdnn --help` under 10 ms).
void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_explain_command(CLI::App& app);
void add_attack_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_influence_command(CLI::App& app);
void add_evaluate_command(CLI::App& app);
void add_svcca_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_fairness_command(CLI::App& app);
void add_project_command(CLI::App& app);
void add_exemplars_command(CLI::App& app);
void add_visualize_command(CLI::App& app);
void add_probe_command(CLI::App& app);
void add_tcav_command(CLI::App& app);
void add_distill_command(CLI::App& app);
void add_automaton_command(CLI::App& app);

// The command named on the command line: the first argument after the program's name that is not an
// option (xdnn has no top-level option taking a value); "" for `xdnn --help`. main.cpp sets it before
// calling the add_*_command functions.
void set_command_being_run(const std::string& name);
// Whether `cmd` (a direct subcommand of the app) is the command being run, whose options must be declared.
bool builds_options(const CLI::App& cmd);

// "a,b,,c" -> {"a", "b", "", "c"} with keep_empty (so that a caller can reject `--lr 0.1,,0.1`), else
// {"a", "b", "c"}.
std::vector<std::string> split_commas(const std::string& text, bool keep_empty);
// The values of a repeatable `--option NAME=VALUE` as a map; a value without '=' or without a name is an
// error naming `option` and showing `example` ("steps=32").
std::map<std::string, std::string> parse_name_values(const std::vector<std::string>& values, const std::string& option,
                                                     const std::string& example);

// Throws naming `path` and the first element that is NaN or infinite (float tensors only).
void check_finite(const Tensor& x, const std::string& path);

// --precision: the dtype the model computes in, "float64" or "float32" (anything else: a one-line error).
void set_precision(Model& model, const std::string& precision);

// Option checks with one short message; main.cpp prints "xdnn: error: --epochs: must be >= 1, got 0".
// Give every count a user can type an upper bound too (between): a typo such as --steps 1e9 must fail
// at once, not run for a day. Non-numbers read "expected a number, got 'abc'".
CLI::Validator at_least(double min);
CLI::Validator greater_than(double min);
CLI::Validator between(double min, double max);

// The NaN / Inf policy of every command: a non-finite element in an input or a model weight is an Error
// naming the culprit (`what`: the file or option, e.g. "--input 'x.npy'"; the model and the weight's name);
// with allow (--allow-nonfinite) it is a warning on stderr and the command goes on.
void check_finite_input(const Tensor& x, const std::string& what, bool allow);
void check_finite_model(Model& model, const std::string& model_name, bool allow);

// What --help shows as the value type of a method or metric option: its spec's type, else read from the
// default ("32" INT, "0.25" FLOAT, otherwise TEXT).
std::string option_type_name(const explain::OptionSpec& spec);

// The .npy `path` given as `option` (e.g. "--input") for `model`, checked against what the model takes
// before any work: integers where the model takes float values, or floats where it takes token ids, are a
// one-line error naming the file's own dtype ("int32 ('<i4')", not the int64 it is widened to); then the
// NaN / Inf policy (check_finite_input). The tensor is returned as read.
Tensor load_model_input(const std::string& path, const std::string& option, const Model& model, bool allow_nonfinite);

// How --input files other than .npy are read (explain/cli/cli_input.cpp), declared by add_input_options:
// images (a PNG / JPEG file or a folder of them: --resize HxW, --grayscale, --mean, --std;
// models/io/image.h) and text for token models (--text "some words", or a .txt file with one sample per
// line, tokenised with the model's vocabulary: vocab.json beside a checkpoint, or --vocab FILE).
struct InputOptions {
  std::string resize, mean, std;
  bool grayscale = false;
  std::string text, vocab;
};
// vocab_option false: the command declares --vocab itself (explain: a method option of the same name).
void add_input_options(CLI::App* cmd, InputOptions& o, bool vocab_option = true);

// What load_input read: the model's input, and for images the pictures as decoded (before --mean / --std,
// for overlays), a line saying how they were read (for the report) and the file of each sample.
struct ModelInput {
  Tensor x;
  Tensor pixels;  // float32 (N, C, H, W) in [0, 1] for image inputs; undefined otherwise
  std::string note;
  std::vector<std::string> files;
};
// load_model_input for any --input: .npy, an image file or folder, a .txt file of texts, or (path empty)
// the --text string. `model_spec` (the --model argument) locates vocab.json beside a checkpoint.
// --target as the commands take it: empty (each sample's argmax), a class index for every sample, or a
// labels .npy (int64 or int32 (N,), each in range), checked in one line naming the option.
// `rows` >= 0: `input` holds only the first rows of an input of `rows` samples (an MPI rank reading its rows
// as it goes); a class index or a labels file is checked against the classes found from them.
std::vector<int64_t> resolve_target_option(const std::string& target, const Model& model, const Tensor& input,
                                           int64_t rows = -1);

ModelInput load_input(const std::string& path, const std::string& option, const Model& model,
                      const std::string& model_spec, bool allow_nonfinite, const InputOptions& in);
// Whether load_input reads `path` as an .npy array (not text, not images).
bool is_npy_input(const std::string& path, const InputOptions& in);
// For an MPI rank that reads an .npy --input by rows (xdnn explain): the file's first `rows` rows (all of
// them when it has fewer), checked as load_input checks a whole array, and in *shape the file's shape. The
// NaN / Inf check of the other rows is the caller's, as it reads them.
ModelInput load_npy_head(const std::string& path, const std::string& option, const Model& model, bool allow_nonfinite,
                         const InputOptions& in, int64_t rows, Shape* shape);

// load_model (models/load.h) plus the checks every command wants: a warning on stderr when `spec` is a
// bare zoo name (an untrained model), and the NaN / Inf policy on its weights.
Model load_checked_model(const std::string& spec, bool allow_nonfinite);

// Options most commands share, declared by one call so they read the same everywhere:
//   --threads N (1..1024; default $XDNN_NUM_THREADS or all cores), --allow-nonfinite.
struct CommonOptions {
  int threads = 0;  // 0: not given
  bool allow_nonfinite = false;
  void apply() const;  // sets the thread count when given
};
void add_common_options(CLI::App* cmd, CommonOptions& o);

// The line every command prints on stdout for each file it wrote: "wrote PATH (WHAT)", e.g.
// "wrote a.npy (attributions, float32 (8, 1, 28, 28))".
void print_wrote(const std::string& path, const std::string& what);

}  // namespace xdnn::cli
