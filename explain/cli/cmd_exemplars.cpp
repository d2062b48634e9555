// `xdnn exemplars --model M (--input X.npy [--labels Y.npy] | --fashion-train N) [--layer L --channels
//                  0,3|all --top K --nearest-to I] [--views filters,top,classes] --out DIR`
//
// Filter and data views (explain/global/exemplars.h) into the folder DIR:
//   filters.png                      the first layer's weights as images
//   top-activations.png / .json      per channel of --layer, the --top examples with the largest activation,
//                                    as their receptive-field patches (Zeiler & Fergus 2014)
//   class-exemplars.png / .json      per class, the examples nearest its mean activation at --layer (and,
//                                    with --nearest-to I, the examples nearest example I's)
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "explain/cli/commands.h"
#include "explain/cli/view_data.h"
#include "explain/global/exemplars.h"
#include "explain/options.h"

namespace xdnn::cli {

namespace {

struct ExemplarsArgs {
  std::string model, layer, channels = "all", views = "filters,top,classes", out, precision, device = "cpu";
  ViewDataArgs data;
  int64_t top = 8, batch = 256, nearest_to = -1, scale = 3;
  CommonOptions common;
};

std::string path_in(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

void write_json(const std::string& path, const nlohmann::json& j, const std::string& what) {
  const std::string text = j.dump(1) + "\n";
  write_file_atomic(path, {text});
  print_wrote(path, what);
}

void run_exemplars(const ExemplarsArgs& a) {
  const std::vector<std::string> views = split_commas(a.views, false);
  bool filters = false, top = false, classes = false;
  for (const std::string& v : views) {
    if (v == "filters")
      filters = true;
    else if (v == "top")
      top = true;
    else if (v == "classes")
      classes = true;
    else
      throw Error("--views: unknown view '" + v + "', expected filters, top or classes");
  }
  if ((top || classes) && a.layer.empty())
    throw Error("--layer is needed for the views top and classes", "or ask for the filters alone: --views filters");
  // The folder is made just before the first file is written, so a failed check leaves nothing behind.
  const std::filesystem::path parent = std::filesystem::absolute(a.out).parent_path();
  if (!std::filesystem::is_directory(parent)) throw Error("--out: folder '" + parent.string() + "' does not exist");
  if (std::filesystem::exists(a.out) && !std::filesystem::is_directory(a.out))
    throw Error("--out '" + a.out + "': expected a folder, it is a file");
  auto make_folder = [&] {
    std::error_code ec;
    std::filesystem::create_directories(a.out, ec);
    if (ec || !std::filesystem::is_directory(a.out)) throw Error("--out: cannot create folder '" + a.out + "'");
  };
  a.common.apply();
  Model model = load_checked_model(a.model, a.common.allow_nonfinite);
  if (!a.precision.empty()) set_precision(model, a.precision);
  if (!a.layer.empty()) model.value_id(a.layer);  // an unknown layer fails before the data are read
  auto write_filters = [&] {
    make_folder();
    if (!filters) return;
    const explain::FirstLayerWeights w = explain::first_layer_weights(model);
    explain::save_png(path_in(a.out, "filters.png"), explain::filter_grid(w.weight, static_cast<int>(a.scale) * 3));
    print_wrote(path_in(a.out, "filters.png"),
                "first-layer weights of '" + w.node + "', " + std::to_string(w.weight.dim(0)) + " filters");
  };
  if (!top && !classes) {
    write_filters();
    return;
  }
  ViewData d = load_view_data(a.data, model, a.model, a.common.allow_nonfinite);
  if (d.x.is_float() && !model.takes_token_ids()) d.x = d.x.to(model.dtype());
  // The forward passes on the device; the pictures, the maxima and the class means on the host (d.x stays
  // there for the pictures; the activations come back as host copies).
  const Device device = select_device(a.device, "--device");
  model.to(device);
  const Tensor x_on_device = d.x.to(device);
  const int64_t n = d.x.dim(0);
  if (a.nearest_to >= n)
    throw Error("--nearest-to " + std::to_string(a.nearest_to) + ": the data set has " + std::to_string(n) + " rows");
  // Channels are checked before anything is written.
  std::vector<int64_t> channels;
  if (top) {
    const int64_t count = explain::channel_count(model, x_on_device, a.layer);
    if (a.channels == "all") {
      for (int64_t c = 0; c < count; ++c) channels.push_back(c);
    } else {
      channels = explain::parse_int_list("--channels", a.channels);
    }
    for (int64_t c : channels)
      if (c < 0 || c >= count)
        throw Error("--channels: channel " + std::to_string(c) + " of layer '" + a.layer +
                    "' is out of range: it has " + std::to_string(count) + " channels (0 to " +
                    std::to_string(count - 1) + ")");
  }
  if (classes && !d.labels.defined())
    throw Error("--views classes needs labels: give --labels Y.npy", "or leave it out: --views filters,top");
  if (d.x.ndim() != 4)
    throw Error("--views top and classes draw pictures: they need images (N, C, H, W), the data are " + d.x.describe());
  write_filters();
  auto label_of = [&](int64_t i) { return d.labels.defined() ? static_cast<int64_t>(d.labels.item(i)) : int64_t(-1); };
  if (top) {
    const auto best = explain::top_activations(model, x_on_device, a.layer, channels, a.top, a.batch);
    const explain::ReceptiveField rf = explain::receptive_field(model, a.layer);
    nlohmann::json j = {{"layer", a.layer}, {"data", d.what}};
    j["receptive_field"] = {{"spatial", rf.spatial},
                            {"jump", {rf.jump_h, rf.jump_w}},
                            {"size", {rf.size_h, rf.size_w}},
                            {"start", {rf.start_h, rf.start_w}}};
    const bool images = d.x.ndim() == 4;
    for (size_t ci = 0; ci < channels.size(); ++ci) {
      nlohmann::json rows = nlohmann::json::array();
      for (const auto& t : best[ci]) {
        nlohmann::json e = {
            {"sample", t.sample}, {"value", t.value}, {"y", t.y}, {"x", t.x}, {"label", label_of(t.sample)}};
        if (images) {
          const explain::PixelBox b =
              explain::receptive_box(rf, std::max<int64_t>(t.y, 0), std::max<int64_t>(t.x, 0), d.x.dim(2), d.x.dim(3));
          e["box"] = {b.top, b.left, b.bottom, b.right};
        }
        rows.push_back(e);
      }
      j["channels"].push_back({{"channel", channels[ci]}, {"top", rows}});
    }
    write_json(path_in(a.out, "top-activations.json"), j,
               std::to_string(channels.size()) + " channels of '" + a.layer + "', top " + std::to_string(a.top));
    explain::save_png(path_in(a.out, "top-activations.png"),
                      explain::patch_grid(d.x, rf, best, static_cast<int>(a.scale)));
    print_wrote(path_in(a.out, "top-activations.png"), "receptive-field patches, one row per channel");
  }
  if (classes) {
    const Tensor act = explain::layer_activations(model, x_on_device, a.layer, a.batch);
    const Tensor rows = act.reshape({n, act.numel() / n});
    const auto ex = explain::class_exemplars(rows, d.labels, a.top);
    nlohmann::json j = {{"layer", a.layer}, {"data", d.what}};
    std::vector<std::vector<int64_t>> grid;
    for (const auto& e : ex) {
      const std::string name = e.label < static_cast<int64_t>(d.class_names.size()) ? d.class_names[e.label] : "";
      j["classes"].push_back({{"label", e.label}, {"name", name}, {"nearest", e.nearest}, {"distance", e.distance}});
      grid.push_back(e.nearest);
    }
    if (a.nearest_to >= 0) {
      const Tensor r64 = rows.to(DType::F64);
      const int64_t f = rows.dim(1);
      const std::vector<double> centre(r64.data<double>() + a.nearest_to * f,
                                       r64.data<double>() + (a.nearest_to + 1) * f);
      std::vector<int64_t> near = explain::nearest_rows(rows, centre, a.top + 1);  // itself first
      j["nearest_to"] = {{"sample", a.nearest_to}, {"nearest", near}};
      grid.push_back(near);
    }
    write_json(path_in(a.out, "class-exemplars.json"), j, std::to_string(ex.size()) + " classes at '" + a.layer + "'");
    explain::save_png(path_in(a.out, "class-exemplars.png"),
                      explain::example_grid(d.x, grid, static_cast<int>(a.scale)));
    print_wrote(path_in(a.out, "class-exemplars.png"), "one row per class, nearest to its mean first");
  }
}

}  // namespace

void add_exemplars_command(CLI::App& app) {
  auto a = std::make_shared<ExemplarsArgs>();
  CLI::App* cmd = app.add_subcommand(
      "exemplars", "first-layer filters, top activating examples with receptive fields, class exemplars");
  if (!builds_options(*cmd)) return;  // see commands.h
  cmd->add_option("--model", a->model, "ONNX file, zoo name or checkpoint")->required();
  cmd->add_option("--layer", a->layer, "the value whose channels and space are viewed (e.g. conv2)");
  add_data_options(cmd, a->data);
  cmd->add_option("--views", a->views, "comma-separated: filters, top, classes")->capture_default_str();
  cmd->add_option("--channels", a->channels, "channels of --layer for the top view: 0,3,5 or all")
      ->capture_default_str();
  cmd->add_option("--top", a->top, "examples per channel and per class")->check(between(1, 100))->capture_default_str();
  cmd->add_option("--nearest-to", a->nearest_to, "also the examples nearest this row's activation")
      ->check(between(0, 1e9));
  cmd->add_option("--scale", a->scale, "pixels per input pixel in the pictures")
      ->check(between(1, 16))
      ->capture_default_str();
  cmd->add_option("--batch", a->batch, "rows per forward pass")->check(between(1, 65536))->capture_default_str();
  cmd->add_option("--out", a->out, "output folder (created if missing)")->required();
  cmd->add_option("--precision", a->precision, "float32 or float64 activations")
      ->check(CLI::IsMember({"float32", "float64"}));
  add_common_options(cmd, a->common);
  cmd->add_option("--device", a->device,
                  "cpu (default), cuda, or strict (the test device: host reads of its memory fail)");
  cmd->callback([a] {
    select_device(a->device, "--device");
    run_exemplars(*a);
  });
}

}  // namespace xdnn::cli
