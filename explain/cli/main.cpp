// The xdnn command line: parses arguments (CLI11) and calls the library. Every command's work lives in
// the library; the cmd_*.cpp files only wire options to functions. Errors become one line + exit 1.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/memory.h"
#include "engine/parallel.h"
#include "explain/cli/cluster.h"
#include "explain/cli/commands.h"

int main(int argc, char** argv) {
  xdnn::keep_freed_tensor_memory();  // engine/memory.h: no page faults for every model call's buffers
  CLI::App app{"xdnn: build, train and explain deep neural networks"};
  app.require_subcommand(1);
  // Version, backends compiled in and the devices found (engine/device.cpp).
  app.set_version_flag("--version",
                       [] { return xdnn::version_text("0.1.0") + "\n" + xdnn::cli::cluster::version_line(); });
  // Each command registers itself here (explain/cli/cmd_<name>.cpp). Keep this list alphabetical. Only the
  // command named on the command line declares its options (commands.h).
  for (int i = 1; i < argc; ++i)
    if (argv[i][0] != '-') {
      xdnn::cli::set_command_being_run(argv[i]);
      break;
    }
  xdnn::cli::add_attack_command(app);
  xdnn::cli::add_distill_command(app);
  xdnn::cli::add_automaton_command(app);
  xdnn::cli::add_eval_command(app);
  xdnn::cli::add_evaluate_command(app);
  xdnn::cli::add_exemplars_command(app);
  xdnn::cli::add_explain_command(app);
  xdnn::cli::add_export_command(app);
  xdnn::cli::add_fairness_command(app);
  xdnn::cli::add_influence_command(app);
  xdnn::cli::add_probe_command(app);
  xdnn::cli::add_project_command(app);
  xdnn::cli::add_report_command(app);
  xdnn::cli::add_run_command(app);
  xdnn::cli::add_svcca_command(app);
  xdnn::cli::add_tcav_command(app);
  xdnn::cli::add_train_command(app);
  xdnn::cli::add_visualize_command(app);
  namespace cluster = xdnn::cli::cluster;
  try {
    // Under mpirun: MPI starts here; only the commands that share their work between ranks may run.
    cluster::start(&argc, &argv);
    if (cluster::size() > 1 && (argc < 2 || (std::strcmp(argv[1], "explain") && std::strcmp(argv[1], "influence"))))
      throw xdnn::Error("under mpirun (" + std::to_string(cluster::size()) +
                        " ranks) only 'xdnn explain' and 'xdnn influence' run: they share their work between ranks");
    // A bad $XDNN_NUM_THREADS fails here, before any work (the pool reads it at its first use).
    if (const char* threads = std::getenv("XDNN_NUM_THREADS")) xdnn::parse_num_threads(threads);
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    const int rc = app.exit(e);
    cluster::finish();
    return rc;
  } catch (const CLI::CallForAllHelp& e) {
    const int rc = app.exit(e);
    cluster::finish();
    return rc;
  } catch (const CLI::CallForVersion& e) {
    const int rc = app.exit(e);
    cluster::finish();
    return rc;
  } catch (const CLI::ParseError& e) {
    // CLI11's own errors (unknown option, missing value, failed check) get the same one line and exit
    // status as every other error, not CLI11's exit codes 104-109 and its own style.
    std::string what = e.what();
    for (char& c : what)
      if (c == '\n') c = ' ';
    const auto used = app.get_subcommands();
    cluster::report_error_and_end(what, "see 'xdnn " + (used.empty() ? "" : used[0]->get_name() + " ") + "--help'");
  } catch (const xdnn::Error& e) {
#ifdef NDEBUG
    cluster::report_error_and_end(e.what(), e.hint());
#else  // debug builds: the place of the failed check (engine/check.h), on the same line
    cluster::report_error_and_end(e.what() + (e.where().empty() ? "" : " [" + e.where() + "]"), e.hint());
#endif
  } catch (const std::exception& e) {
    cluster::report_error_and_end(e.what(), "");
  }
  cluster::finish();
  return 0;
}
