// `xdnn export --model CKPT --out M.onnx`: writes a model (any --model spec; typically a checkpoint of
// `xdnn train`) as a standard ONNX file, opset 17 (models/onnx/export.h).
#include <cstdio>
#include <memory>
#include <string>

#include "engine/file_io.h"
#include "explain/cli/commands.h"
#include "models/load.h"
#include "models/onnx/export.h"

namespace xdnn::cli {

void add_export_command(CLI::App& app) {
  struct ExportArgs {
    std::string model, out;
    CommonOptions common;
  };
  auto a = std::make_shared<ExportArgs>();
  CLI::App* cmd =
      app.add_subcommand("export", "write a model (e.g. a checkpoint of xdnn train) as an ONNX file (opset 17)");
  if (!builds_options(*cmd)) return;  // see commands.h
  cmd->add_option("--model", a->model, "zoo name, safetensors checkpoint or ONNX file")->required();
  cmd->add_option("--out", a->out, "output .onnx")->required();
  add_common_options(cmd, a->common);
  cmd->callback([a] {
    check_output_path(a->out, "--out", {a->model});
    export_onnx_file(load_checked_model(a->model, a->common.allow_nonfinite), a->out);
    print_wrote(a->out, "ONNX model, opset 17");
  });
}

}  // namespace xdnn::cli
