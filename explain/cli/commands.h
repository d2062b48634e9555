// One function per CLI command, each in its own explain/cli/cmd_<name>.cpp: it declares the command's
// options on `app` and sets a callback that calls the library. main.cpp only lists them.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/model.h"

namespace xdnn::cli {

// Present when the corresponding cmd_*.cpp is compiled in; main.cpp calls each.
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

// "a,b,,c" -> {"a", "b", "", "c"} with keep_empty (so that a caller can reject `--lr 0.1,,0.1`), else
// {"a", "b", "c"}.
std::vector<std::string> split_commas(const std::string& text, bool keep_empty);

// Throws naming `path` and the first element that is NaN or infinite (float tensors only).
void check_finite(const Tensor& x, const std::string& path);

// --precision: the dtype the model computes in, "float64" or "float32" (anything else: a one-line error).
void set_precision(Model& model, const std::string& precision);

}  // namespace xdnn::cli
