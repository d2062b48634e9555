// One function per CLI command, each in its own explain/cli/cmd_<name>.cpp: it declares the command's
// options on `app` and sets a callback that calls the library. main.cpp only lists them.
#pragma once
#include <CLI/CLI.hpp>

namespace xdnn::cli {

// Present when the corresponding cmd_*.cpp is compiled in; main.cpp calls each.
void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_explain_command(CLI::App& app);
void add_attack_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_influence_command(CLI::App& app);

}  // namespace xdnn::cli
