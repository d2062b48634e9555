// `xdnn report --model M (--input X.npy [--labels Y.npy] | --fashion-test N) --methods a,b,c --out R.html`
//            [--metrics deletion,insertion --metric-option score=prob --metric-option steps=28]
//        xdnn report --model M (--input X.npy | --fashion-test N) --global probes,tcav [--global-option K=V]
//            [--checkpoints a.safetensors,b.safetensors] --out G.html
// One self-contained HTML page: a row per sample, a column per method (explain/report.h), and with
// --metrics an evaluation section scoring the methods. Resumable like `xdnn explain`: a killed run
// continues from OUT.progress.json (--resume, or whenever the record exists). With --global the page is
// the global report instead: what the model learned as a whole (explain/global/section.h).
#include <cstdio>
#include <fstream>
#include <memory>

#include "engine/device.h"
#include "engine/file_io.h"
#include "explain/attention.h"
#include "explain/cli/cluster.h"
#include "explain/cli/commands.h"
#include "explain/cli/resumable.h"
#include "explain/evaluate/metric.h"
#include "explain/global/section.h"
#include "explain/report.h"
#include "models/io/fashion_mnist.h"
#include "models/io/npy.h"
#include "models/io/tokenizer.h"
#include "models/load.h"

namespace xdnn::cli {
namespace {

struct ReportArgs {
  std::string model, input, labels, out, methods = "saliency,integrated-gradients,grad-cam,lrp", title;
  bool methods_given = false;
  int64_t fashion_test = 0;
  std::string precision, device = "cpu";    // precision empty: the model's own dtype
  std::vector<std::string> options;         // key=value
  std::string target;                       // empty: the predicted class; a class index; or a labels .npy
  std::string metrics;                      // the evaluation section's metrics, comma-separated
  std::vector<std::string> metric_options;  // key=value
  std::string global;                       // global sections, comma-separated: the global page
  std::vector<std::string> global_options;  // key=value
  std::string checkpoints;                  // for the global sections that compare training stages
  bool resume = false;
  CommonOptions common;
  InputOptions input_options;
};

// --global: the global report over the same model and data (no per-sample rows).
void write_global_page(const ReportArgs& a, const explain::ReportRequest& req) {
  explain::GlobalReportRequest g;
  g.context.model = req.model;
  g.context.model_label = req.model_label;
  g.context.data = req.input;
  g.context.labels = req.labels;
  g.context.class_names = req.class_names;
  g.context.vocabulary = req.vocabulary;
  g.context.checkpoints = split_commas(a.checkpoints, /*keep_empty=*/false);
  g.sections = split_commas(a.global, /*keep_empty=*/false);
  g.options = parse_name_values(a.global_options, "--global-option", "layer=conv2");
  g.title = a.title.empty() ? "xdnn global report" : a.title;
  explain::write_global_report(a.out, g);
  print_wrote(a.out, "global HTML report, " + std::to_string(g.sections.size()) + " section(s)");
}

void run_report(const ReportArgs& a, Device device) {
  if (!a.global.empty() && (a.methods_given || !a.metrics.empty() || !a.options.empty()))
    throw Error("--global writes the global page: give it without --methods, --option and --metrics",
                "write the per-sample report with a second `xdnn report`");
  if (a.global.empty() && (!a.global_options.empty() || !a.checkpoints.empty()))
    throw Error("--global-option and --checkpoints need --global",
                "known sections: " + explain::global_section_names());
  explain::ReportRequest req;
  req.options = parse_name_values(a.options, "--option", "steps=32");
  req.metrics = split_commas(a.metrics, /*keep_empty=*/false);
  req.metric_options = parse_name_values(a.metric_options, "--metric-option", "score=prob");
  if (req.metrics.empty() && !req.metric_options.empty())
    throw Error("--metric-option needs --metrics", "e.g. --metrics deletion,insertion --metric-option score=prob");
  if (a.fashion_test > 0 && !a.input.empty()) throw Error("give either --input or --fashion-test, not both");
  check_output_path(a.out, "--out", {a.model, a.input, a.labels});  // before any work
  a.common.apply();
  Model model = load_checked_model(a.model, a.common.allow_nonfinite);
  if (!a.precision.empty()) set_precision(model, a.precision);
  model.freeze();  // its weights stay as loaded: layers build their derived forms once (Layer::freeze)
  if (a.fashion_test > 0) {
    LabeledImages test = load_fashion_mnist("test", "", a.fashion_test);
    req.input = test.images;
    req.labels = test.labels;
    const auto& names = fashion_mnist_classes();
    req.class_names.assign(names.begin(), names.end());
  } else if (!a.input.empty() || !a.input_options.text.empty()) {
    ModelInput loaded = load_input(a.input, "--input", model, a.model, a.common.allow_nonfinite, a.input_options);
    req.input = loaded.x;
    req.pixels = loaded.pixels;
    req.input_note = loaded.note;
    if (!a.labels.empty()) req.labels = load_npy(a.labels);
  } else {
    throw Error("no input: give --input X.npy (or an image, a folder, a .txt file), --text or --fashion-test N");
  }
  const bool tokens = req.input.dtype() == DType::I64;
  if (!a.target.empty()) req.targets = resolve_target_option(a.target, model, req.input);
  // Token models have no convolutional map for Grad-CAM: their default column set differs.
  req.methods = split_commas(a.methods_given || !tokens ? a.methods : "saliency,integrated-gradients,erasure,lrp",
                             /*keep_empty=*/false);
  // `xdnn train --data ...` writes vocab.json next to its checkpoints: show words instead of ids.
  if (tokens && !a.input_options.vocab.empty() && !req.options.count("vocab"))
    req.options["vocab"] = a.input_options.vocab;
  if (tokens && !req.options.count("vocab")) {
    const std::string vocab_path = text::vocabulary_path_for_checkpoint(a.model);
    if (std::ifstream(vocab_path).good()) req.vocabulary = explain::load_vocabulary_tokens(vocab_path);
  }
  if (req.class_names.empty()) req.class_names = model.class_names;
  model.to(device);  // after the input is read and checked against the model, which loads on the CPU
  req.model = &model;
  req.device = device;
  req.model_label = a.model;
  if (!a.title.empty()) req.title = a.title;
  if (!a.global.empty()) {
    write_global_page(a, req);
    return;
  }
  // Resumable: each pass's rows are recorded in OUT.partial + OUT.progress.json, and a killed run goes on
  // from them (explain/cli/resumable.h); the key names everything that changes a row.
  auto hex = [](uint64_t h) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return std::string(buf);
  };
  std::string choices = "precision=" + a.precision + " target=" + a.target + " methods=";
  for (const auto& m : req.methods) choices += m + ",";
  for (const auto& [name, value] : req.options) choices += " " + name + "=" + value;
  const std::map<std::string, std::string> key = {
      {"command", "report"},
      {"input", hex(cluster::hash_tensor(req.input))},
      {"model", hex(cluster::hash_model(model))},
      {"labels", req.labels.defined() ? hex(cluster::hash_tensor(req.labels)) : "none"},
      {"targets", hex(cluster::hash_bytes(std::string_view(reinterpret_cast<const char*>(req.targets.data()),
                                                           req.targets.size() * sizeof(int64_t))))},
      {"options", choices}};
  ResumableText progress(a.out, key, req.input.dim(0), a.resume);
  req.resume.first_row = progress.rows_done();
  req.resume.rows_html = progress.text_done();
  req.resume.seconds = progress.numbers();
  req.resume.on_pass = [&progress](int64_t done, std::string_view html, const std::vector<double>& seconds) {
    progress.append(html, done, seconds);
  };
  explain::write_report(a.out, req);
  progress.discard();
  print_wrote(a.out, "HTML report, " + std::to_string(req.input.dim(0)) + " sample(s) x " +
                         std::to_string(req.methods.size()) + " method(s)" +
                         (req.metrics.empty() ? "" : " x " + std::to_string(req.metrics.size()) + " metric(s)"));
}

}  // namespace

void add_report_command(CLI::App& app) {
  auto args = std::make_shared<ReportArgs>();
  CLI::App* cmd = app.add_subcommand("report", "write a self-contained HTML page explaining a model's predictions");
  if (!builds_options(*cmd)) return;  // see commands.h
  cmd->add_option("--model", args->model, "ONNX file, zoo name or safetensors checkpoint")->required();
  cmd->add_option("--input", args->input,
                  "input batch .npy (float32 images (N, C, H, W) or int64 tokens (N, T)), a PNG / JPEG image or "
                  "folder, or a .txt file of texts");
  cmd->add_option("--target", args->target,
                  "class to explain for every sample, or a labels .npy (int64 or int32 (N,)) with one per sample "
                  "(default: the predicted class)")
      ->type_name("K|FILE");
  cmd->add_option("--labels", args->labels, "true labels .npy (int64 (N,)), optional");
  cmd->add_option("--fashion-test", args->fashion_test, "use the first N Fashion-MNIST test images (with labels)")
      ->check(between(1, 10000));
  CLI::Option* methods = cmd->add_option("--methods", args->methods,
                                         "comma-separated explanation methods (default " + args->methods +
                                             "; for token inputs saliency,integrated-gradients,erasure,lrp)");
  cmd->add_option("--option", args->options, "NAME=VALUE passed to every method that takes NAME (repeatable)");
  cmd->add_option(
      "--metrics", args->metrics,
      "comma-separated evaluation metrics for an evaluation section (as `xdnn evaluate`): " + explain::metric_names());
  cmd->add_option("--metric-option", args->metric_options,
                  "NAME=VALUE for the metrics, e.g. score=prob, steps=28 (repeatable)");
  cmd->add_option("--global", args->global,
                  "write the global page instead (what the model learned), with these comma-separated sections: " +
                      explain::global_section_names());
  cmd->add_option("--global-option", args->global_options, "NAME=VALUE for the global sections (repeatable)");
  cmd->add_option("--checkpoints", args->checkpoints,
                  "comma-separated checkpoints of one training run, oldest first, for the global sections that "
                  "compare training stages");
  cmd->add_option("--title", args->title, "page title");
  cmd->add_flag("--resume", args->resume,
                "continue an interrupted run from OUT.progress.json (also done whenever that record exists)");
  cmd->add_option("--out", args->out, "output .html")->required();
  add_common_options(cmd, args->common);
  add_input_options(cmd, args->input_options);
  cmd->add_option("--precision", args->precision, "compute in float32 or float64 (default: the model's own dtype)")
      ->check(CLI::IsMember({"float32", "float64"}));
  cmd->add_option("--device", args->device,
                  "cpu (default), cuda, or strict (the test device: host reads of its memory fail); the per-sample "
                  "page only (--global runs on the CPU)");
  cmd->callback([args, methods] {
    // Before loading anything. The global page's sections (probes, TCAV, projections, ...) are built for the CPU
    // here; each of them has its own command that takes --device.
    if (!args->global.empty()) require_cpu_command(args->device, "xdnn report --global");
    const Device device = select_device(args->device, "--device");
    args->methods_given = methods->count() > 0;
    run_report(*args, device);
  });
}

}  // namespace xdnn::cli
