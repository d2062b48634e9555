// `xdnn explain --model M --input X.npy [--target K] --method NAME [method options] --out A.npy [--png F]`
//              [--chunk C] [--resume]; under `mpirun -np R` the ranks share the rows (explain/cli/cluster.h)
//
// The method options are not listed here: the command declares the union of every registered method's
// options (explain/registry.h), so a new method needs no change to this file. Only the options of the
// chosen method are accepted; defaults come from its OptionSpec list. Output: float32 .npy; a method whose
// result is a rule (anchors) writes its rules as JSON when --out ends in .json, its feature mask otherwise.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "explain/attention.h"
#include "explain/cli/cluster.h"
#include "explain/cli/commands.h"
#include "explain/cli/resumable.h"
#include "explain/heatmap.h"
#include "explain/inference_graph.h"
#include "explain/influence/influence.h"
#include "explain/registry.h"
#include "explain/report.h"
#include "explain/targets.h"
#include "models/io/npy.h"
#include "models/io/tokenizer.h"
#include "models/load.h"

namespace xdnn::cli {

namespace {

struct ExplainArgs {
  std::string model, input, method, out, png, precision = "float64", colormap;
  double png_alpha = 0.65;
  std::string device = "cpu";
  std::string target;  // empty: each sample's argmax; a class index; or a labels .npy
  InputOptions input_options;
  int64_t chunk = 256;
  bool resume = false;
  std::map<std::string, std::string> values;  // method option values, by name
  std::map<std::string, bool> flags;          // method flag values, by name
  std::map<std::string, CLI::Option*> given;  // the declared method options, by name
  CommonOptions common;
};

// The help text most methods taking option `name` give (--score: "logit, prob or log-prob", not the
// one method's "logit only").
std::string common_help(const std::string& name) {
  std::map<std::string, int> count;
  std::string best;
  for (const auto& m : explain::methods())
    for (const auto& spec : m.options)
      if (spec.name == name && ++count[spec.help] > count[best]) best = spec.help;
  return best;
}

// " (default D)" for an option whose default all methods taking it share; otherwise each default with its
// methods, e.g. " (default logit; log-prob: erasure; prob: extremal-perturbation, meaningful-perturbation)",
// so that --help does not show one method's default as everyone's.
std::string default_text(const std::string& name) {
  std::map<std::string, std::string> methods_by_default;  // default -> "m1, m2"
  std::map<std::string, size_t> count;
  for (const auto& m : explain::methods())
    for (const auto& spec : m.options)
      if (spec.name == name) {
        std::string& list = methods_by_default[spec.default_value];
        list += (list.empty() ? "" : ", ") + m.name;
        ++count[spec.default_value];
      }
  if (methods_by_default.size() == 1)
    return methods_by_default.begin()->first.empty() ? "" : " (default " + methods_by_default.begin()->first + ")";
  // The most common default first, without its method list.
  auto common = std::max_element(count.begin(), count.end(), [](auto& a, auto& b) { return a.second < b.second; });
  std::string out = " (default " + (common->first.empty() ? std::string("none") : common->first);
  for (const auto& [value, list] : methods_by_default)
    if (value != common->first) out += "; " + (value.empty() ? std::string("none") : value) + ": " + list;
  return out + ")";
}

// One PNG for the whole batch: a picture per sample side by side. Images (N, C, H, W): each sample's map
// as the HTML report reduces it (explain/report.h: channels summed, class activation maps upsampled to
// the input grid) overlaid on the picture as read (in colour for RGB), with its index, target and
// prediction above and a colour bar below (explain/heatmap.h render_overlay). (N, D) and token (N, T)
// attributions are drawn as one row of cells per sample.
struct PngRequest {
  Tensor attribution, input, pixels;  // pixels: the pictures before --mean / --std, or undefined
  std::vector<int64_t> targets, predicted;
  std::vector<std::string> class_names;
  std::vector<std::string> vocabulary;  // token id -> text, for token pictures (empty: ids)
  explain::OverlayOptions overlay;
};

std::string class_text(int64_t k, const std::vector<std::string>& names) {
  return std::to_string(k) + (k >= 0 && k < static_cast<int64_t>(names.size()) ? " " + names[k] : "");
}

void write_png(const std::string& path, const PngRequest& r) {
  const Tensor a = r.attribution.to(DType::F64);
  const int64_t N = a.dim(0);
  std::vector<explain::RgbImage> tiles;
  auto title = [&](int64_t n) {
    return "#" + std::to_string(n) + " target " + class_text(r.targets[n], r.class_names) + " pred " +
           class_text(r.predicted[n], r.class_names);
  };
  if (a.ndim() == 2 && r.input.dtype() == DType::I64 && r.input.shape() == a.shape()) {
    // Token ids (N, T): each sample's tokens as text on their relevance colours.
    for (int64_t n = 0; n < N; ++n) {
      explain::OverlayOptions o = r.overlay;
      o.title = title(n);
      std::vector<double> values(static_cast<size_t>(a.dim(1)));
      for (int64_t t = 0; t < a.dim(1); ++t) values[t] = a.item(n * a.dim(1) + t);
      tiles.push_back(explain::render_token_overlay(values, explain::token_labels(r.input, n, r.vocabulary), o).image);
    }
  } else if (a.ndim() == 2) {
    tiles.push_back(explain::render_heatmap(a, Tensor()));
  } else if (a.ndim() == 4 && r.input.is_float() && r.input.ndim() == 4 && r.input.dim(0) == N) {
    const Tensor shown = r.pixels.defined() ? r.pixels : r.input;
    for (int64_t n = 0; n < N; ++n) {
      explain::OverlayOptions o = r.overlay;
      o.title = title(n);
      const Tensor picture = shown.slice_batch(n, n + 1).reshape({shown.dim(1), shown.dim(2), shown.dim(3)});
      tiles.push_back(explain::render_overlay(explain::display_map(a, r.input, n), picture, o).image);
    }
  } else {
    throw Error("--png: cannot draw an attribution of shape " + shape_str(a.shape()));
  }
  explain::save_png(path, explain::side_by_side(tiles, 4));  // 4 white pixels between samples
}

// `--out R.json`: the method's rules rather than an attribution array.
bool writes_rules(const std::string& out) { return out.size() > 5 && out.compare(out.size() - 5, 5, ".json") == 0; }

// What a resumed run and every MPI rank must share: the loaded arrays, the model's weights, the targets and
// every choice that changes the output (explain/cli/resumable.h, explain/cli/cluster.h).
struct RunIdentity {
  std::string choices;                                  // "method=saliency precision=float64 ... seed=0"
  std::vector<std::pair<std::string, uint64_t>> items;  // what each hash covers, the hash
};
RunIdentity run_identity(const ExplainArgs& a, Model& model, const explain::ExplainRequest& req, uint64_t input_hash) {
  std::string choices = "method=" + a.method + " precision=" + a.precision + " device=" + a.device;
  for (const auto& [name, value] : req.options.values) choices += " " + name + "=" + value;
  uint64_t arrays = cluster::hash_bytes("option arrays");
  for (const auto& [name, t] : req.options.arrays) arrays = cluster::hash_bytes(name, arrays ^ cluster::hash_tensor(t));
  // No --target: the targets are the argmax of the model's logits, which the input and model hashes cover.
  const std::string_view targets =
      req.targets.empty()
          ? std::string_view("argmax")
          : std::string_view(reinterpret_cast<const char*>(req.targets.data()), req.targets.size() * sizeof(int64_t));
  return {choices,
          {{"--input '" + a.input + "'", input_hash},
           {"--model '" + a.model + "'", cluster::hash_model(model)},
           {"the method options' files", arrays},
           {"the targets (--target '" + a.target + "')", cluster::hash_bytes(targets)},
           {"the options (" + choices + ")", cluster::hash_bytes(choices)}}};
}

std::string hash_text(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// What the resume record keeps of an .npy input besides the sampled hash (which lets through a file changed
// only in rows it does not sample): its size and modification time, so that a file rewritten between the kill
// and the resume is refused rather than mixed with the rows already written. The same in one process and
// under mpirun (only rank 0 keeps the record). Other inputs (images, text) are decoded whole, and their hash
// is the whole array's.
std::string input_file_stamp(const std::string& path, bool npy, const Tensor& decoded) {
  if (!npy) return decoded.defined() ? hash_text(cluster::hash_tensor(decoded)) : "none";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error("--input '" + path + "': cannot read its size and time");
  char stamp[96];
  std::snprintf(stamp, sizeof stamp, "%lld bytes, modified %lld.%09ld", static_cast<long long>(st.st_size),
                static_cast<long long>(st.st_mtim.tv_sec), static_cast<long>(st.st_mtim.tv_nsec));
  return stamp;
}

// The rows of --input, [b, e) at a time, in the dtype the model computes in: slices of the array in memory,
// or, for an MPI rank given an .npy file, rows read from the file as the rank reaches them (each rank reads
// the rows of its own chunks, never the whole file), their NaN / Inf checked as they are read.
struct InputRows {
  Tensor all;        // the whole input as read, when in memory
  std::string path;  // otherwise the .npy file
  Shape shape;       // (N, ...), as read
  DType dtype = DType::F32;
  // Float inputs are handed to the methods in the dtype the model computes in (--precision), through float32;
  // a float file given to a token model stays as it is, so that the model's input check names its dtype.
  DType compute = DType::F32;
  bool convert = false;
  bool allow_nonfinite = false;

  Tensor to_compute(const Tensor& x) const { return convert ? x.to(DType::F32).to(compute) : x; }
  // Rows [b, e), converted; only rows read from the file here (the array in memory was checked whole).
  Tensor rows(int64_t b, int64_t e) const {
    const Tensor x = load_npy_rows(path, b, e);
    check_finite_input(x, "--input '" + path + "' rows [" + std::to_string(b) + ", " + std::to_string(e) + ")",
                       allow_nonfinite);
    return to_compute(x);
  }
  // What the ranks (and a resumed run) must agree on, the same whether the rows are in memory or in the
  // file: dtype, shape and a sample of rows as read (cluster::hash_row_sample).
  uint64_t hash() const {
    return cluster::hash_row_sample(dtype, shape, [&](int64_t i) {
      return all.defined() ? all.slice_batch(i, i + 1) : load_npy_rows(path, i, i + 1);
    });
  }
};

void run_explain(const ExplainArgs& a) {
  const explain::MethodInfo& method = explain::find_method(a.method);
  std::map<std::string, std::string> given;
  for (const auto& [name, opt] : a.given) {
    if (opt->count() == 0) continue;
    // --vocab tokenises --text / .txt inputs for every method; only the methods that take it also get it.
    if (name == "vocab" && std::none_of(method.options.begin(), method.options.end(),
                                        [](const explain::OptionSpec& s) { return s.name == "vocab"; }))
      continue;
    given[name] = a.flags.count(name) ? "true" : a.values.at(name);
  }
  explain::ExplainRequest req;
  req.options = explain::resolve_options(method, given);  // before loading anything: fail fast
  // Options that write a file per sample (attention --png-dir, erasure-flip --summary) and rule outputs need
  // the whole batch in one pass on one process.
  const bool one_pass = req.options.has("png-dir") || req.options.has("summary");
  if ((one_pass || writes_rules(a.out)) && cluster::size() > 1)
    throw Error(std::string(one_pass ? "--png-dir and --summary write files per sample" : "--out *.json writes rules") +
                ": run it as one process, not under mpirun");

  const Device device = select_device(a.device, "--device");  // before loading anything
  check_output_path(a.out, "--out", {a.model, a.input});
  check_output_path(a.png, "--png", {a.model, a.input});
  if (!a.png.empty() && a.png == a.out) throw Error("--png and --out name the same file '" + a.out + "'");
  a.common.apply();
  Model model = load_checked_model(a.model, a.common.allow_nonfinite);
  set_precision(model, a.precision);
  model = explain::inference_graph(std::move(model), method.name, req.options);  // BatchNorm folded if unchanged
  model.freeze();  // its weights stay as loaded: layers build their derived forms once (Layer::freeze)
  req.model = &model;
  InputOptions in = a.input_options;
  in.vocab = a.values.at("vocab");  // --vocab is also the attention method's option: one file for both
  // Under mpirun an .npy input is read by rows: a rank reads the first rows here (checks, the class count),
  // then the rows of its chunks as it reaches them, never the whole file. Rank 0 reads all of it for --png.
  const bool npy_input = is_npy_input(a.input, in);
  const bool by_rows = cluster::size() > 1 && npy_input && !(cluster::is_root() && !a.png.empty());
  InputRows input;
  input.allow_nonfinite = a.common.allow_nonfinite;
  ModelInput loaded;
  if (by_rows) {
    const int64_t head = std::max<int64_t>(1, model.exported_batch);
    loaded = load_npy_head(a.input, "--input", model, a.common.allow_nonfinite, in, head, &input.shape);
    input.path = a.input;
  } else {
    loaded = load_input(a.input, "--input", model, a.model, a.common.allow_nonfinite, in);
    input.all = loaded.x;
    input.shape = loaded.x.shape();
  }
  input.dtype = loaded.x.dtype();
  input.compute = model.dtype();
  input.convert = loaded.x.is_float() && !model.takes_token_ids();
  req.input = input.to_compute(loaded.x);  // by rows: the first rows only
  if (req.input.ndim() < 2) throw Error(a.input + ": expected a batch (N, ...), got " + req.input.describe());
  const int64_t N = input.shape[0];
  // Without --target each sample is explained for its argmax, found with its chunk below (a forward pass
  // per row on the rank that explains it, not one over every row on every rank); rule methods run in one pass.
  const bool argmax_in_chunks = a.target.empty() && !writes_rules(a.out);
  if (!argmax_in_chunks) req.targets = resolve_target_option(a.target, model, req.input, N);
  // The prediction written on each --png picture (one more forward pass, only for images; only rank 0 draws).
  std::vector<int64_t> predicted, png_targets = req.targets;
  if (!a.png.empty() && cluster::is_root()) {
    if (req.input.ndim() == 4 || model.takes_token_ids()) predicted = explain::resolve_targets(model, req.input, -1);
    if (argmax_in_chunks) png_targets = explain::resolve_targets(model, req.input, -1);
  }
  std::vector<std::string> vocabulary;  // for token pictures: --vocab, else vocab.json beside a checkpoint
  if (!a.png.empty() && model.takes_token_ids()) {
    const size_t colon = a.model.find(':');  // "ARCH:dir/epoch-2.safetensors" names its checkpoint after it
    const std::string beside =
        text::vocabulary_path_for_checkpoint(colon == std::string::npos ? a.model : a.model.substr(colon + 1));
    if (!in.vocab.empty())
      vocabulary = explain::load_vocabulary_tokens(in.vocab);
    else if (a.model.ends_with(".safetensors") && std::filesystem::exists(beside))
      vocabulary = explain::load_vocabulary_tokens(beside);
  }
  req.progress = isatty(2) != 0;
  auto write_heatmaps = [&](const Tensor& values) {
    PngRequest png{values,    req.input.to(Device::CPU), loaded.pixels, png_targets,
                   predicted, model.class_names,         vocabulary,    {}};
    png.overlay.colormap = a.colormap;
    png.overlay.alpha = a.png_alpha;
    write_png(a.png, png);
  };

  explain::load_option_files(method, req.options);  // --baseline B.npy and friends: the method reads no files
  const RunIdentity identity = run_identity(a, model, req, input.hash());
  cluster::agree_on(identity.items);  // every MPI rank holds the same inputs (one process: nothing to check)
  model.to(device);
  if (writes_rules(a.out)) {
    req.input = req.input.to(device);
    // A rule method (anchors): its result is the JSON of Attribution::parameters["rules"], one object per
    // sample. One pass, so that every sample's rule is kept (rules are small; the mask goes to --png).
    explain::Attribution r = method.run(req);
    if (!r.parameters.count("rules"))
      throw Error("--out " + a.out + ": method '" + a.method + "' gives attributions, not rules",
                  "write them to a .npy; only rule methods (anchors) write .json");
    write_file_atomic(a.out, {r.parameters.at("rules"), "\n"});
    print_wrote(a.out, a.method + " rules of " + std::to_string(req.input.dim(0)) + " sample(s)");
    if (!a.png.empty()) {
      write_heatmaps(r.values.to(Device::CPU).to(DType::F32));
      print_wrote(a.png, a.method + " mask");
    }
    return;
  }
  // The rows are computed `chunk` at a time; with R MPI ranks, round by round: rank r computes rows
  // [n0 + r·chunk, n0 + (r+1)·chunk) and rank 0 gathers the round's rows in rank order and appends them to
  // the output. Methods are per sample (first_sample gives each row its own random draws), so any cut gives
  // the bits of one pass (explain/registry.h run_in_chunks), and a killed run resumes at a recorded row.
  // Rows come from InputRows (by rows under mpirun) or req.input; a folder of images could be read as it
  // goes the same way.
  if (N < 1) throw Error(a.input + ": expected at least one sample, got " + req.input.describe());
  const int64_t chunk = one_pass ? N : a.chunk;
  const int ranks = cluster::size(), me = cluster::rank();
  std::unique_ptr<ResumableNpy> writer;
  if (cluster::is_root()) {
    std::map<std::string, std::string> key = {{"command", "explain"},
                                              {"input", hash_text(identity.items[0].second)},
                                              {"input file", input_file_stamp(a.input, npy_input, input.all)},
                                              {"model", hash_text(identity.items[1].second)},
                                              {"option files", hash_text(identity.items[2].second)},
                                              {"targets", hash_text(identity.items[3].second)},
                                              {"options", identity.choices}};
    writer = std::make_unique<ResumableNpy>(a.out, key, N, a.resume);
  }
  const int64_t start = cluster::broadcast(writer ? writer->rows_done() : 0);
  influence::Progress bar(a.method, N - start, cluster::is_root() && isatty(2) != 0);
  for (int64_t n0 = start; n0 < N; n0 += chunk * ranks) {
    const int64_t b = std::min(N, n0 + me * chunk), e = std::min(N, b + chunk);
    Tensor rows;
    if (e > b) {
      explain::ExplainRequest part = req;
      part.input = (by_rows ? input.rows(b, e) : req.input.slice_batch(b, e)).clone().to(device);
      if (argmax_in_chunks)
        part.targets = explain::resolve_targets(model, part.input, -1);
      else
        part.targets.assign(req.targets.begin() + b, req.targets.begin() + e);
      part.first_sample = b;
      part.progress = false;  // the bar is this loop's
      rows = method.run(part).values.to(Device::CPU).to(DType::F32);
      if (rows.ndim() < 1 || rows.dim(0) != e - b)
        throw Error(a.method + ": attribution " + rows.describe() + " does not have one row per sample");
      check_finite_input(rows, a.method + " attribution (the model's weights and inputs were finite)",
                         a.common.allow_nonfinite);
    }
    const std::string_view mine = rows.defined() ? std::string_view(static_cast<const char*>(rows.raw_data()),
                                                                    static_cast<size_t>(rows.numel()) * sizeof(float))
                                                 : std::string_view();
    const std::string round = cluster::gather(mine);  // rank 0: rows [n0, min(N, n0 + ranks·chunk))
    if (writer) {
      const int64_t n = std::min(N, n0 + chunk * ranks) - n0;
      writer->append(round, n, Shape(rows.shape().begin() + 1, rows.shape().end()), DType::F32);
      bar.add(n);
    }
  }
  if (!writer) return;  // ranks other than 0 write nothing
  writer->finish();
  print_wrote(a.out, a.method + " attributions, float32 " + shape_str(writer->shape()));
  if (!a.png.empty()) {
    write_heatmaps(load_npy(a.out));
    print_wrote(a.png, a.method + " heatmap");
  }
}

}  // namespace

void add_explain_command(CLI::App& app) {
  auto args = std::make_shared<ExplainArgs>();
  CLI::App* cmd = app.add_subcommand("explain", "attribute a model's prediction to its input features");
  if (!builds_options(*cmd)) return;  // see commands.h
  cmd->add_option("--model", args->model, "ONNX file, zoo name or safetensors checkpoint")->required();
  cmd->add_option("--input", args->input,
                  "input batch .npy (float32 (N, ...) or int64 token ids (N, T)), a PNG / JPEG image or a folder of "
                  "them, or a .txt file of texts (one per line) for token models");
  cmd->add_option("--target", args->target,
                  "class to explain for every sample, or a labels .npy (int64 or int32 (N,)) with one per sample "
                  "(default: argmax of the logits)")
      ->type_name("K|FILE");
  cmd->add_option("--method", args->method, "explanation method: " + explain::method_names())->required();
  cmd->add_option("--out", args->out, "output .npy (float32), or .json for a rule method's rules (anchors)")
      ->required();
  cmd->add_option("--png", args->png,
                  "also write a heatmap PNG: each sample's map over its picture, with index, target, prediction and "
                  "a colour bar");
  cmd->add_option("--colormap", args->colormap,
                  "--png colour map: bwr (diverging), hot, viridis, gray (default: bwr for a signed map, else hot)")
      ->check(CLI::IsMember(explain::colormap_names()));
  cmd->add_option("--png-alpha", args->png_alpha,
                  "--png: weight of the heatmap over the picture, 0..1 (--alpha is the LRP alpha-beta rule's)")
      ->capture_default_str()
      ->check(between(0, 1));
  cmd->add_option("--precision", args->precision, "compute in float64 (default) or float32; output is float32")
      ->check(CLI::IsMember({"float32", "float64"}));
  cmd->add_option("--device", args->device, "cpu (default) or cuda");
  cmd->add_option("--chunk", args->chunk,
                  "samples per pass and per resumable step (default 256; the output does not depend on it)")
      ->check(between(1, 1 << 20));
  cmd->add_flag("--resume", args->resume,
                "continue an interrupted run from OUT.progress.json (also done whenever that record exists)");
  add_common_options(cmd, args->common);
  add_input_options(cmd, args->input_options, /*vocab_option=*/false);
  for (const auto& spec : explain::all_method_options()) {
    std::string help = common_help(spec.name);
    if (spec.name == "vocab")
      help =
          "vocabulary JSON of a token model: tokenises --text / .txt inputs (default: vocab.json beside the "
          "checkpoint) and labels the attention PNGs";
    if (!explain::is_flag(spec)) help += default_text(spec.name);
    if (explain::is_flag(spec)) {
      args->flags[spec.name] = false;
      args->given[spec.name] = cmd->add_flag("--" + spec.name, args->flags[spec.name], help);
    } else {
      args->values[spec.name] = "";
      args->given[spec.name] =
          cmd->add_option("--" + spec.name, args->values[spec.name], help)->type_name(option_type_name(spec));
    }
  }
  cmd->callback([args] { run_explain(*args); });
}

}  // namespace xdnn::cli
