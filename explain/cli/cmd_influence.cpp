// `xdnn influence --method tracin|grad-dot|grad-cos|self-influence|influence-function
//                 --checkpoints c1,c2,c3 [--lr 0.1,0.1,0.1] --train-x TX.npy --train-y TY.npy
//                 --test-x X.npy --test-y Y.npy [--params all|last-layer] [--projection K --seed S]
//                 [--damping L] [--solver cg|lissa [--lissa-depth J --lissa-repeats R --lissa-scale S
//                 --lissa-batch B]] [--top K [--html FILE]] --out S.npy`
// (explain/influence/influence.h). Output: float32 (n_test, n_train); self-influence: (n_train).
// Checkpoints are model specs (models/load.h): ONNX files or xdnn safetensors checkpoints; without
// --lr the learning rate comes from each checkpoint's "lr" metadata (models/train/checkpoint.h).
// Every check on the inputs runs before the long computation starts. Under `mpirun -np R` the ranks share
// the training examples (run_sharded).
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "explain/cli/cluster.h"
#include "explain/cli/commands.h"
#include "explain/heatmap.h"
#include "explain/influence/influence.h"
#include "explain/options.h"
#include "models/io/npy.h"
#include "models/load.h"
#include "models/train/checkpoint.h"

namespace xdnn::cli {

namespace {

struct InfluenceArgs {
  std::string method, checkpoints, lr, train_x, train_y, test_x, test_y, params = "all", out, html;
  int64_t projection = 0, top = 0, chunk = 256;
  std::string device = "cpu";
  uint64_t seed = 0;
  double damping = 0.01;
  std::string solver = "cg";
  influence::LissaOptions lissa;
  CommonOptions common;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The learning rate a checkpoint was trained with in its epoch (TracIn's η_c).
double checkpoint_lr(const std::string& spec) {
  if (!ends_with(spec, ".safetensors"))
    throw Error("--lr is required: checkpoint '" + spec + "' carries no learning rate",
                "give one learning rate per checkpoint, e.g. --lr 0.1,0.1,0.1");
  std::string path = spec;
  const size_t colon = spec.find(':');
  if (colon != std::string::npos && !std::ifstream(spec).good()) path = spec.substr(colon + 1);
  const Metadata md = read_checkpoint_metadata(path);
  return metadata_get_double(md, "lr", path);
}

// Renders one example as an <img> (grey images: (1, H, W), (H, W) or a square (H·W)) or as text.
std::string example_html(const Tensor& x, int64_t n) {
  const Tensor row = x.slice_batch(n, n + 1);
  const int64_t numel = row.numel();
  Shape s(row.shape().begin() + 1, row.shape().end());
  while (s.size() > 2 && s[0] == 1) s.erase(s.begin());
  if (s.size() == 1) {
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(numel))));
    if (side * side == numel) s = {side, side};
  }
  if (row.is_float() && s.size() == 2 && s[0] <= 256 && s[1] <= 256) {
    const explain::RgbImage img = explain::render_grey(row.to(DType::F64).reshape(s), 3);
    return "<img src=\"data:image/png;base64," + explain::base64_encode(explain::png_bytes(img)) + "\">";
  }
  std::string text;
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on (i ? " " : "") + std::to_string(...) once
  // the CLI's unity file inlines it.
  for (int64_t i = 0; i < std::min<int64_t>(numel, 32); ++i) {
    if (i) text += ' ';
    text += std::to_string(row.item(i));
  }
  return "<code>" + text + (numel > 32 ? " ..." : "") + "</code>";
}

// Strongest proponents (largest scores; most negative for influence functions, whose sign is
// reversed) and opponents of each test example, printed and optionally drawn as HTML.
void report_top(const InfluenceArgs& a, const Tensor& S, const influence::InfluenceData& data) {
  const bool reversed = influence::influence_methods().find(a.method).negative_helps;
  const int64_t n_test = S.dim(0), n_train = S.dim(1), k = std::min(a.top, n_train);
  std::string html =
      "<!doctype html><meta charset=\"utf-8\"><title>xdnn influence</title><style>body{font-family:sans-serif}"
      "td{text-align:center;font-size:11px;padding:2px}</style><h1>xdnn influence: " +
      a.method + " (" + a.params + ")</h1><table>";
  for (int64_t j = 0; j < n_test; ++j) {
    std::vector<int64_t> order(n_train);
    std::iota(order.begin(), order.end(), 0);
    auto score = [&](int64_t i) { return (reversed ? -1.0 : 1.0) * S.item(j * n_train + i); };
    std::stable_sort(order.begin(), order.end(), [&](int64_t p, int64_t q) { return score(p) > score(q); });
    const int64_t yj = data.test_y.data<int64_t>()[j];
    std::printf("test %lld (label %lld)\n", static_cast<long long>(j), static_cast<long long>(yj));
    html += "<tr><td><b>test " + std::to_string(j) + "</b><br>" + example_html(data.test_x, j) + "<br>label " +
            std::to_string(yj) + "</td>";
    for (int side = 0; side < 2; ++side) {
      std::printf("  %s:", side == 0 ? "proponents" : "opponents ");
      html +=
          "<td style=\"border-left:2px solid #888\">" + std::string(side == 0 ? "proponents" : "opponents") + "</td>";
      for (int64_t r = 0; r < k; ++r) {
        const int64_t i = side == 0 ? order[r] : order[n_train - 1 - r];
        const double v = S.item(j * n_train + i);
        const int64_t yi = data.train_y.data<int64_t>()[i];
        std::printf(" %lld (label %lld, %.4g)", static_cast<long long>(i), static_cast<long long>(yi), v);
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.4g", v);
        html += "<td>" + example_html(data.train_x, i) + "<br>#" + std::to_string(i) + " label " + std::to_string(yi) +
                "<br>" + buf + "</td>";
      }
      std::printf("\n");
    }
    html += "</tr>";
  }
  html += "</table>";
  if (!a.html.empty()) {
    write_file_atomic(a.html, {html});
    print_wrote(a.html, "HTML view of the top " + std::to_string(k) + " proponents and opponents");
  }
}

// The training examples this process scores: all of them as one process; under mpirun its share (whole
// chunks, cluster::share), read from the files without the other ranks' rows. A rank whose share is empty
// still reads one row, so that it checks the files as the others do.
struct TrainShare {
  int64_t n_train = 0, begin = 0, end = 0;
};

TrainShare load_train_share(const InfluenceArgs& a, influence::InfluenceData& data) {
  TrainShare share;
  const Shape sx = npy_shape(a.train_x), sy = npy_shape(a.train_y);
  if (cluster::size() == 1 || sx.empty() || sx[0] < 1 || sy.size() != 1 || sy[0] != sx[0]) {
    data.train_x = load_npy(a.train_x);  // one process, or files that validate_inputs will refuse
    data.train_y = load_npy(a.train_y);
    share.n_train = share.end = data.train_x.ndim() > 0 ? data.train_x.dim(0) : 0;
    return share;
  }
  share.n_train = sx[0];
  std::tie(share.begin, share.end) = cluster::share(sx[0], a.chunk, cluster::rank(), cluster::size());
  const int64_t b = std::min(share.begin, sx[0] - 1), e = std::max(share.end, b + 1);
  data.train_x = load_npy_rows(a.train_x, b, e);
  data.train_y = load_npy_rows(a.train_y, b, e);
  return share;
}

// Under `mpirun -np R` (explain/cli/cluster.h): rank r scores the training examples of its share, whole
// chunks of the one-process run (cluster::share), i.e. the columns [b_r, e_r) of S (n_test, n_train), or
// the entries [b_r, e_r) of self-influence (n_train). Every score is one training example's: the ranks split
// outputs, never a sum, so S is bit for bit the one-process S. Without --top each rank writes its block
// straight into --out (cluster::write_npy_columns: no block sent, no rank holding S) and every rank returns an
// undefined tensor; with --top rank 0 needs S: it gathers the float32 blocks in rank order, places them and
// returns S (the others an undefined tensor).
// `data`: the host copies (hashed); `on_device`: the same on --device, which the method reads.
Tensor run_sharded(const InfluenceArgs& a, const influence::InfluenceMethodInfo& method,
                   const std::vector<Model*>& ptrs, const std::vector<double>& lrs,
                   const influence::InfluenceData& data, const influence::InfluenceData& on_device,
                   const influence::InfluenceOptions& opt, const TrainShare& share) {
  std::string choices = "method=" + a.method + " params=" + a.params + " projection=" + std::to_string(a.projection) +
                        " seed=" + std::to_string(a.seed) + " chunk=" + std::to_string(a.chunk) + " lr=";
  for (size_t c = 0; c < lrs.size(); ++c) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.17g", c ? "," : "", lrs[c]);  // exact: ranks compare these bytes
    choices += buf;
  }
  // Each rank read only its rows of the training files: their hashes sample rows (cluster::hash_npy_sample).
  std::vector<std::pair<std::string, uint64_t>> items = {
      {"--train-x '" + a.train_x + "'", cluster::hash_npy_sample(a.train_x)},
      {"--train-y '" + a.train_y + "'", cluster::hash_npy_sample(a.train_y)},
      {"the options (" + choices + ")", cluster::hash_bytes(choices)}};
  if (data.test_x.defined()) {
    items.push_back({"--test-x '" + a.test_x + "'", cluster::hash_tensor(data.test_x)});
    items.push_back({"--test-y '" + a.test_y + "'", cluster::hash_tensor(data.test_y)});
  }
  for (size_t c = 0; c < ptrs.size(); ++c)
    items.push_back({"checkpoint " + std::to_string(c + 1) + " ('" + split_commas(a.checkpoints, true)[c] + "')",
                     cluster::hash_model(*ptrs[c])});
  cluster::agree_on(items);

  const int64_t n_train = share.n_train;
  const int ranks = cluster::size();
  // The test side (the test examples' factors or gradients) is split too: each rank computes its share and
  // the ranks exchange them (InfluenceOptions::ranks), so no rank repeats another's forward passes.
  influence::InfluenceOptions split = opt;
  split.rank = cluster::rank();
  split.ranks = ranks;
  split.all_gather = [](std::string_view mine) { return cluster::all_gather(mine); };
  Tensor mine;
  // A rank without training examples has nothing to score, but must still take part in the test side's
  // exchanges: it runs with its one row (load_train_share) and sends no columns.
  mine = method.run(ptrs, lrs, on_device, split).to(DType::F32).to(Device::CPU);  // data: this rank's rows
  const bool self = !method.needs_test;
  const int64_t n_test = self ? 1 : data.test_x.dim(0), mine_cols = share.end - share.begin;
  if (mine.numel() < n_test * mine_cols)
    throw Error("MPI: rank " + std::to_string(cluster::rank()) + " computed " + mine.describe() + ", expected (" +
                std::to_string(n_test) + ", " + std::to_string(mine_cols) + ") scores");
  if (mine_cols == 0) mine = Tensor();
  // Rank r's block (n_test, e_r − b_r) goes to columns [b_r, e_r) of S on rank 0, received in place.
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (int r = 0; r < ranks; ++r) ranges.push_back(cluster::share(n_train, opt.chunk, r, ranks));
  const Shape shape = self ? Shape{n_train} : Shape{n_test, n_train};
  if (a.top == 0) {
    cluster::write_npy_columns(a.out, shape, mine.defined() ? mine.data<float>() : nullptr, ranges);
    if (cluster::is_root()) print_wrote(a.out, a.method + " scores, float32 " + shape_str(shape));
    return Tensor();
  }
  Tensor S;
  if (cluster::is_root()) S = Tensor::empty(shape, DType::F32);
  cluster::gather_columns(mine.defined() ? mine.data<float>() : nullptr, n_test, ranges,
                          S.defined() ? S.data<float>() : nullptr, n_train);
  return S;
}

void run_influence(const InfluenceArgs& a) {
  const Device device = select_device(a.device, "--device");  // before loading anything: cuda without a GPU fails here
  const influence::InfluenceMethodInfo& method = influence::influence_methods().find(a.method);
  const bool self = !method.needs_test;
  const bool needs_lr = method.needs_lr;
  influence::InfluenceOptions opt;
  opt.params = influence::parse_param_set(a.params);
  opt.projection = a.projection;
  opt.seed = a.seed;
  opt.damping = a.damping;
  opt.solver = a.solver;
  opt.lissa = a.lissa;
  opt.lissa.seed = a.seed;
  if (a.solver != "cg" && a.solver != "lissa")
    throw Error("--solver: expected 'cg' or 'lissa', got '" + a.solver + "'");
  if (a.solver == "lissa" && !method.solves_hessian)
    throw Error("--solver lissa: only the influence-function method solves a linear system");
  opt.chunk = a.chunk;
  opt.progress = isatty(2) != 0 && cluster::is_root();  // only rank 0 draws (its share's progress)
  if (a.top < 0) throw Error("--top: expected a non-negative count");
  if (!a.html.empty() && a.top == 0) throw Error("--html needs --top K");
  if (self && a.top > 0) throw Error("--top: not available for " + a.method + " (its output has no test axis)");

  const std::vector<std::string> specs = split_commas(a.checkpoints, /*keep_empty=*/true);
  if (specs.empty()) throw Error("--checkpoints: expected a comma-separated list of checkpoints");
  std::vector<std::string> inputs = {a.train_x, a.train_y, a.test_x, a.test_y};
  for (const auto& s : specs) inputs.push_back(s.substr(s.find(':') == std::string::npos ? 0 : s.find(':') + 1));
  inputs.insert(inputs.end(), specs.begin(), specs.end());
  check_output_path(a.out, "--out", inputs);  // before the long computation
  check_output_path(a.html, "--html", inputs);
  a.common.apply();
  std::vector<double> lrs;
  if (!a.lr.empty())
    for (const auto& t : split_commas(a.lr, /*keep_empty=*/true)) lrs.push_back(explain::parse_number(t, "--lr"));
  if (!lrs.empty() && lrs.size() != specs.size())
    throw Error("--lr: " + std::to_string(lrs.size()) + " learning rate(s) for " + std::to_string(specs.size()) +
                " checkpoint(s); give one per checkpoint");
  if (needs_lr && lrs.empty())
    for (const auto& s : specs) lrs.push_back(checkpoint_lr(s));

  influence::InfluenceData data;
  const TrainShare share = load_train_share(a, data);
  if (!self) {
    if (a.test_x.empty() || a.test_y.empty()) throw Error("--test-x and --test-y are required for " + a.method);
    data.test_x = load_npy(a.test_x);
    data.test_y = load_npy(a.test_y);
  }
  check_finite_input(data.train_x, "--train-x '" + a.train_x + "'", a.common.allow_nonfinite);
  if (data.test_x.defined()) check_finite_input(data.test_x, "--test-x '" + a.test_x + "'", a.common.allow_nonfinite);
  if (data.train_x.dtype() == DType::F64) data.train_x = data.train_x.to(DType::F32);
  if (data.test_x.defined() && data.test_x.dtype() == DType::F64) data.test_x = data.test_x.to(DType::F32);

  std::vector<Model> models;
  models.reserve(specs.size());
  for (const auto& s : specs) {
    models.push_back(load_model(s));
    check_finite_model(models.back(), s, a.common.allow_nonfinite);
  }
  std::vector<Model*> ptrs;
  for (auto& m : models) ptrs.push_back(&m);
  try {
    influence::validate_inputs(ptrs, needs_lr ? &lrs : nullptr, data, opt, !self);
  } catch (const Error& e) {
    std::string msg = e.what();
    for (size_t c = specs.size(); c-- > 0;) {  // name the files ("checkpoint 2" -> "checkpoint 2 (c2.onnx)")
      const std::string key = "checkpoint " + std::to_string(c + 1);
      for (size_t at = msg.find(key); at != std::string::npos; at = msg.find(key, at + key.size()))
        if (at + key.size() >= msg.size() || !std::isdigit(static_cast<unsigned char>(msg[at + key.size()]))) {
          msg.insert(at + key.size(), " (" + specs[c] + ")");
          at += specs[c].size() + 3;
        }
    }
    throw Error(msg, e.hint());
  }

  // (H + λI)⁻¹ needs the Hessian of the whole training set on every rank: no split of the outputs alone.
  if (cluster::size() > 1 && method.solves_hessian)
    throw Error(a.method + " does not share its work over MPI ranks (its Hessian sums over the whole training set)",
                "run it as one process, without mpirun");
  // The checks above ran on the host; the method runs on --device (its scores come back to the host).
  influence::InfluenceData on_device = data;
  if (device != Device::CPU) {
    for (auto& m : models) m.to(device);
    for (Tensor* t : {&on_device.train_x, &on_device.train_y, &on_device.test_x, &on_device.test_y})
      if (t->defined()) *t = t->to(device);
  }
  const Tensor S = cluster::size() > 1 ? run_sharded(a, method, ptrs, lrs, data, on_device, opt, share)
                                       : method.run(ptrs, lrs, on_device, opt).to(DType::F32).to(Device::CPU);
  if (!S.defined()) return;                                 // written by the ranks, or not rank 0
  if (a.top > 0 && data.train_x.dim(0) != share.n_train) {  // the proponents' pictures: every training example
    data.train_x = load_npy(a.train_x);
    data.train_y = load_npy(a.train_y);
  }
  save_npy(a.out, S);
  print_wrote(a.out, a.method + " scores, " + S.describe());
  if (a.top > 0) report_top(a, S, data);
}

}  // namespace

void add_influence_command(CLI::App& app) {
  auto args = std::make_shared<InfluenceArgs>();
  CLI::App* cmd =
      app.add_subcommand("influence", "training-data influence: " + influence::influence_methods().names(", "));
  if (!builds_options(*cmd)) return;  // see commands.h
  cmd->add_option("--method", args->method, influence::influence_methods().names(" | "))->required();
  cmd->add_option("--checkpoints", args->checkpoints,
                  "comma-separated checkpoints (ONNX files or xdnn safetensors checkpoints), oldest first")
      ->required();
  cmd->add_option("--lr", args->lr,
                  "comma-separated learning rate per checkpoint (default: the checkpoints' 'lr' metadata)");
  cmd->add_option("--train-x", args->train_x, "training inputs .npy (n_train, ...)")->required();
  cmd->add_option("--train-y", args->train_y, "training labels .npy, int64 (n_train)")->required();
  cmd->add_option("--test-x", args->test_x, "test inputs .npy (n_test, ...)");
  cmd->add_option("--test-y", args->test_y, "test labels .npy, int64 (n_test)");
  cmd->add_option("--params", args->params, "all (default) | last-layer");
  cmd->add_option("--projection", args->projection, "project gradients to K dimensions (seeded Gaussian)")
      ->check(between(0, 1 << 20));
  cmd->add_option("--seed", args->seed, "projection seed; LiSSA mini-batch seed (default 0)");
  cmd->add_option("--damping", args->damping, "influence-function: lambda in (H + lambda I) (default 0.01)")
      ->check(at_least(0));
  cmd->add_option("--solver", args->solver,
                  "influence-function: cg (conjugate gradients, default) | lissa (stochastic, Agarwal et al. 2017)");
  cmd->add_option("--lissa-depth", args->lissa.depth, "LiSSA recursion steps per repeat (default 1000)")
      ->check(between(1, 1e6));
  cmd->add_option("--lissa-repeats", args->lissa.repeats, "LiSSA independent recursions averaged (default 1)")
      ->check(between(1, 1e4));
  cmd->add_option("--lissa-scale", args->lissa.scale,
                  "LiSSA scale, above the largest eigenvalue of H + damping (default 10)")
      ->check(greater_than(0));
  cmd->add_option("--lissa-batch", args->lissa.batch, "LiSSA training examples per mini-batch Hessian (default 64)")
      ->check(between(1, 1e6));
  cmd->add_option("--chunk", args->chunk, "training examples per chunk (default 256)")->check(between(1, 1e6));
  cmd->add_option("--top", args->top, "print each test example's K strongest proponents and opponents")
      ->check(between(0, 1e4));
  cmd->add_option("--html", args->html, "with --top: write an HTML view of them");
  cmd->add_option("--out", args->out, "output .npy, float32 (n_test, n_train); self-influence: (n_train)")->required();
  cmd->add_option("--device", args->device, "cpu (default) | cuda | strict (the host-access test device)");
  add_common_options(cmd, args->common);
  cmd->callback([args] { run_influence(*args); });
}

}  // namespace xdnn::cli
