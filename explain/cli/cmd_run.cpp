// xdnn run --model M.onnx --input X.npy [--input X2.npy ...] --out Y.npy
// Forward pass of a model on a batch (any batch size); writes the first output as .npy (float32 for
// float outputs, int64 for integer outputs).
// --assert FILE: model assertions (explain/assertions/assertions.h) over the batch's rows as a stream, on
// the first input and the first output; the output .npy stays the model's own, and the flags, the
// predictions and the corrected predictions go to Y.assertions.json beside it.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/file_io.h"
#include "explain/assertions/assertions.h"
#include "explain/cli/commands.h"
#include "explain/inference_graph.h"
#include "models/io/npy.h"
#include "models/load.h"

namespace xdnn::cli {

namespace {

struct RunOptions {
  std::string model, out, assert_file;
  std::vector<std::string> inputs;
  std::string device = "cpu";
  std::string precision;  // empty: the model's own dtype
  CommonOptions common;
  InputOptions input_options;
};

// Y.npy -> Y.assertions.json (any other name: NAME.assertions.json).
std::string assertions_path(const std::string& out) {
  const std::string stem = out.size() > 4 && out.substr(out.size() - 4) == ".npy" ? out.substr(0, out.size() - 4) : out;
  return stem + ".assertions.json";
}

void run_command(const RunOptions& o) {
  const Device device = select_device(o.device, "--device");  // before any work: fail fast
  std::vector<std::string> inputs = o.inputs;
  inputs.push_back(o.model);
  check_output_path(o.out, "--out", inputs);
  std::vector<explain::Assertion> assertions;
  std::string assert_out;
  if (!o.assert_file.empty()) {  // read and validated before any work
    std::ifstream f(o.assert_file, std::ios::binary);
    if (!f) throw Error("--assert: cannot read '" + o.assert_file + "'");
    std::stringstream text;
    text << f.rdbuf();
    assertions = explain::parse_assertions(text.str(), o.assert_file);
    assert_out = assertions_path(o.out);
    inputs.push_back(o.assert_file);
    check_output_path(assert_out, "--assert (its report)", inputs);
  }
  o.common.apply();
  Model model = load_checked_model(o.model, o.common.allow_nonfinite);
  if (!o.precision.empty()) set_precision(model, o.precision);
  model = explain::inference_graph(std::move(model), "run");  // BatchNorm folded into its convolution
  model.to(device);
  std::vector<std::string> given = o.inputs;
  if (!o.input_options.text.empty()) given.insert(given.begin(), "");  // --text is the first input
  if (given.size() != model.inputs().size())
    throw Error("model '" + o.model + "' takes " + std::to_string(model.inputs().size()) + " input(s), got " +
                std::to_string(given.size()) + " --input file(s)");
  std::vector<Tensor> xs;
  for (size_t i = 0; i < given.size(); ++i) {
    // The model declares the dtype of its first input only; images and text are first inputs.
    Tensor x = i == 0 ? load_input(given[i], "--input", model, o.model, o.common.allow_nonfinite, o.input_options).x
                      : load_npy(given[i]);
    if (i > 0) check_finite_input(x, "--input '" + given[i] + "'", o.common.allow_nonfinite);
    // float64 arrays run in the model's float type (float32); integers stay integers.
    if (x.is_float() && x.dtype() != model.dtype()) x = x.to(model.dtype());
    xs.push_back(x.to(device));
  }
  Tape tape = model.forward(xs);
  Tensor y = tape.values.at(model.outputs().at(0));
  if (!y.defined()) throw Error("model '" + o.model + "' produced no value for its first output");
  y = y.to(Device::CPU);
  if (y.is_float()) y = y.to(DType::F32);
  save_npy(o.out, y);
  print_wrote(o.out, "output '" + model.value_name(model.outputs().at(0)) + "', " + y.describe());
  if (assertions.empty()) return;
  const explain::AssertionReport report = explain::run_assertions(assertions, xs.at(0).to(Device::CPU), y);
  for (size_t i = 0; i < assertions.size(); ++i)
    std::printf("assertion '%s' (%s): %lld of %zu samples flagged, %lld corrected\n", assertions[i].name.c_str(),
                assertions[i].kind.c_str(), static_cast<long long>(report.flagged[i]), report.predicted.size(),
                static_cast<long long>(report.corrected[i]));
  const std::string text = explain::assertion_report_json(assertions, report);
  write_file_atomic(assert_out, {text});
  print_wrote(assert_out, "assertion flags, predicted and final classes");
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto opts = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "forward pass: write the model's first output for a batch of inputs");
  if (!builds_options(*cmd)) return;  // see commands.h
  cmd->add_option("--model", opts->model, "model (.onnx)")->required();
  cmd->add_option("--input", opts->inputs,
                  "input .npy (repeat for models with several inputs); the first may be a PNG / JPEG image or folder, "
                  "or a .txt file of texts for a token model");
  cmd->add_option("--out", opts->out, "output .npy (float32)")->required();
  cmd->add_option("--assert", opts->assert_file,
                  "model assertions (JSON, kinds: " + explain::assertion_kinds().names(", ") +
                      "): flags / corrections over the batch's rows as a stream, to OUT.assertions.json");
  cmd->add_option("--device", opts->device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--precision", opts->precision,
                  "compute in float32 or float64 (default: the model's own dtype); output is float32")
      ->check(CLI::IsMember({"float32", "float64"}));
  add_common_options(cmd, opts->common);
  add_input_options(cmd, opts->input_options);
  cmd->callback([opts] { run_command(*opts); });
}

}  // namespace xdnn::cli
