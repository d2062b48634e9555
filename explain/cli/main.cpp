// The xdnn command line: parses arguments (CLI11) and calls the library. Every command's work lives in
// the library; the cmd_*.cpp files only wire options to functions. Errors become one line + exit 1.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

#include "engine/error.h"
#include "engine/parallel.h"
#include "explain/cli/commands.h"
#include "kernels/cuda_ops.h"

int main(int argc, char** argv) {
  CLI::App app{"xdnn: build, train and explain deep neural networks"};
  app.require_subcommand(1);
  // Version, backends compiled in and the devices found (kernels/device.cpp).
  app.set_version_flag("--version", [] { return xdnn::cuda::version_text("0.1.0"); });
  // Each command registers itself here (explain/cli/cmd_<name>.cpp). Keep this list alphabetical.
  xdnn::cli::add_attack_command(app);
  xdnn::cli::add_eval_command(app);
  xdnn::cli::add_evaluate_command(app);
  xdnn::cli::add_explain_command(app);
  xdnn::cli::add_export_command(app);
  xdnn::cli::add_fairness_command(app);
  xdnn::cli::add_influence_command(app);
  xdnn::cli::add_report_command(app);
  xdnn::cli::add_run_command(app);
  xdnn::cli::add_svcca_command(app);
  xdnn::cli::add_train_command(app);
  try {
    // A bad $XDNN_NUM_THREADS fails here, before any work (the pool reads it at its first use).
    if (const char* threads = std::getenv("XDNN_NUM_THREADS")) xdnn::parse_num_threads(threads);
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11's own errors (unknown option, missing value, failed check) get the same one line and exit
    // status as every other error, not CLI11's exit codes 104-109 and its own style.
    std::string what = e.what();
    for (char& c : what)
      if (c == '\n') c = ' ';
    std::fprintf(stderr, "xdnn: error: %s\n", what.c_str());
    const auto used = app.get_subcommands();
    std::fprintf(stderr, "hint: see 'xdnn %s--help'\n", used.empty() ? "" : (used[0]->get_name() + " ").c_str());
    return 1;
  } catch (const xdnn::Error& e) {
#ifdef NDEBUG
    std::fprintf(stderr, "xdnn: error: %s\n", e.what());
#else  // debug builds: the place of the failed check (engine/check.h), on the same line
    std::fprintf(stderr, "xdnn: error: %s%s\n", e.what(), e.where().empty() ? "" : (" [" + e.where() + "]").c_str());
#endif
    if (!e.hint().empty()) std::fprintf(stderr, "hint: %s\n", e.hint().c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xdnn: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
