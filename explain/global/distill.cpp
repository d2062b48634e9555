// Distillation into a tree and a rule list: see distill.h.
#include "explain/global/distill.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/error.h"
#include "engine/random.h"
#include "explain/global/section.h"
#include "explain/html.h"
#include "explain/svcca.h"

namespace xdnn::explain {

namespace {

Tensor rows_of(const Tensor& t, const std::vector<int64_t>& rows) {
  const int64_t width = t.dim(1);
  Tensor out({static_cast<int64_t>(rows.size()), width}, DType::F64);
  for (size_t r = 0; r < rows.size(); ++r)
    std::copy_n(t.data<double>() + rows[r] * width, width, out.data<double>() + static_cast<int64_t>(r) * width);
  return out;
}

int64_t argmax_row(const double* p, int64_t K) { return std::max_element(p, p + K) - p; }

double agreement(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  int64_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  return static_cast<double>(same) / static_cast<double>(a.size());
}

// "pixel(y,x)" for one-channel images, "pixel(c,y,x)" otherwise; "NAME[c,y,x]" / "NAME[j]" for a layer.
std::vector<std::string> flat_names(const Shape& shape, const std::string& base, bool is_input) {
  std::vector<std::string> out;
  const int64_t F = shape_numel(Shape(shape.begin() + 1, shape.end()));
  for (int64_t f = 0; f < F; ++f) {
    std::string idx;
    if (shape.size() == 4) {
      const int64_t C = shape[1], H = shape[2], W = shape[3];
      const int64_t c = f / (H * W), y = (f / W) % H, x = f % W;
      idx = (C == 1 && is_input ? "" : std::to_string(c) + ",") + std::to_string(y) + "," + std::to_string(x);
    } else {
      idx = std::to_string(f);
    }
    out.push_back(is_input && shape.size() == 4 ? "pixel(" + idx + ")" : base + "[" + idx + "]");
  }
  return out;
}

}  // namespace

DistillResult distill(const DistillData& d, const DistillOptions& o) {
  if (!d.features.defined() || d.features.ndim() != 2 || !d.teacher.defined() || d.teacher.ndim() != 2)
    throw Error("distill: expected features (N, F) and network predictions (N, K)");
  const int64_t N = d.features.dim(0), K = d.teacher.dim(1);
  if (d.teacher.dim(0) != N) throw Error("distill: features and network predictions have different row counts");
  if (!d.labels.empty() && static_cast<int64_t>(d.labels.size()) != N)
    throw Error("distill: " + std::to_string(d.labels.size()) + " labels for " + std::to_string(N) + " rows");
  std::vector<int64_t> train, test;
  if (!o.test_rows.empty()) {
    std::vector<char> held(static_cast<size_t>(N), 0);
    for (int64_t i : o.test_rows) {
      if (i < 0 || i >= N || held[i])
        throw Error("distill: held-out row " + std::to_string(i) + " is out of range or repeated");
      held[i] = 1;
    }
    test = o.test_rows;
    for (int64_t i = 0; i < N; ++i)
      if (!held[i]) train.push_back(i);
  } else {
    if (!(o.held_out > 0.0 && o.held_out < 1.0))
      throw Error("distill: held-out " + std::to_string(o.held_out) + ": expected a share in (0, 1)");
    const int64_t test_n = static_cast<int64_t>(std::llround(o.held_out * static_cast<double>(N)));
    // A seeded shuffle (Fisher–Yates), then the first N − test_n rows fit the tree.
    std::vector<int64_t> order(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) order[i] = i;
    Rng rng(o.seed);
    for (int64_t i = N - 1; i > 0; --i) std::swap(order[i], order[rng.below(static_cast<uint64_t>(i + 1))]);
    train.assign(order.begin(), order.end() - std::min(test_n, N));
    test.assign(order.end() - std::min(test_n, N), order.end());
  }
  if (train.empty() || test.empty())
    throw Error("distill: " + std::to_string(N) + " rows leave no training or no held-out row",
                "use more rows or another held-out share");
  const Tensor features = d.features.to(DType::F64), teacher = d.teacher.to(DType::F64);
  Tensor targets = rows_of(teacher, train);
  if (!o.soft)
    for (int64_t r = 0; r < targets.dim(0); ++r) {
      double* p = targets.data<double>() + r * K;
      const int64_t k = argmax_row(p, K);
      std::fill(p, p + K, 0.0);
      p[k] = 1.0;
    }
  DistillResult r;
  r.feature_names = d.feature_names;
  r.class_names = d.class_names;
  r.train_rows = static_cast<int64_t>(train.size());
  r.test_rows = static_cast<int64_t>(test.size());
  const Tensor x_train = rows_of(features, train), x_test = rows_of(features, test);
  r.tree = fit_tree(x_train, targets, o.tree);
  r.rules = rules_from_tree(r.tree);
  std::vector<int64_t> net_train, net_test, y_test;
  for (int64_t i : train) net_train.push_back(argmax_row(teacher.data<double>() + i * K, K));
  for (int64_t i : test) net_test.push_back(argmax_row(teacher.data<double>() + i * K, K));
  const std::vector<int64_t> tree_test = r.tree.predict(x_test), rules_test = r.rules.predict(x_test);
  r.tree_fidelity_train = agreement(r.tree.predict(x_train), net_train);
  r.tree_fidelity = agreement(tree_test, net_test);
  r.rules_fidelity = agreement(rules_test, net_test);
  if (!d.labels.empty()) {
    for (int64_t i : test) y_test.push_back(d.labels[i]);
    r.tree_accuracy = agreement(tree_test, y_test);
    r.rules_accuracy = agreement(rules_test, y_test);
    r.network_accuracy = agreement(net_test, y_test);
  }
  return r;
}

DistillData distill_data_from_model(const Model& model, const Tensor& x, const std::vector<int64_t>& labels,
                                    const std::string& layer) {
  if (!layer.empty()) model.value_id(layer);  // an unknown name fails before any work
  if (!x.defined() || x.ndim() < 2 || x.dim(0) < 2)
    throw Error("distill: expected a batch of at least 2 inputs (N, ...), got " +
                (x.defined() ? x.describe() : std::string("nothing")));
  if (!x.is_float() && layer.empty())
    throw Error("distill: token ids are not features a tree can split", "name a layer with --layer");
  const Tensor input = x.is_float() && !model.takes_token_ids() ? x.to(model.dtype()) : x;
  DistillData d;
  d.labels = labels;
  d.class_names = model.class_names;
  const int64_t N = x.dim(0);
  Tensor source;
  std::vector<Tensor> probs;
  for (int64_t b = 0; b < N; b += 256) {
    const int64_t e = std::min(N, b + 256);
    const Tensor chunk = input.slice_batch(b, e);
    const Tensor logits = model.predict(chunk).to(DType::F64);
    if (logits.ndim() != 2 || logits.dim(0) != e - b)
      throw Error("distill: the model's output is " + logits.describe() + ", expected class scores (N, K)");
    probs.push_back(logits);
  }
  const int64_t K = probs.front().dim(1);
  d.teacher = Tensor({N, K}, DType::F64);
  int64_t row = 0;
  for (const Tensor& l : probs)
    for (int64_t i = 0; i < l.dim(0); ++i, ++row) {
      const double* z = l.data<double>() + i * K;
      double* p = d.teacher.data<double>() + row * K;
      const double m = *std::max_element(z, z + K);
      double s = 0.0;
      for (int64_t k = 0; k < K; ++k) s += p[k] = std::exp(z[k] - m);
      for (int64_t k = 0; k < K; ++k) p[k] /= s;
    }
  source = layer.empty() ? x : layer_activation(model, input, layer);
  const int64_t F = source.numel() / N;
  d.features = source.to(DType::F64).reshape({N, F});
  d.feature_names = flat_names(source.shape(), layer, layer.empty());
  return d;
}

std::string distill_summary(const DistillResult& r) {
  char b[512];
  std::snprintf(b, sizeof b,
                "tree: depth %lld, %lld leaves; rule list: %zu rules + default\n"
                "rows: %lld fit, %lld held out\n"
                "fidelity to the network (held out): tree %.4f, rules %.4f (tree on the fitted rows %.4f)\n",
                static_cast<long long>(r.tree.depth()), static_cast<long long>(r.tree.leaves()), r.rules.rules.size(),
                static_cast<long long>(r.train_rows), static_cast<long long>(r.test_rows), r.tree_fidelity,
                r.rules_fidelity, r.tree_fidelity_train);
  std::string s = b;
  if (r.network_accuracy >= 0) {
    std::snprintf(b, sizeof b, "accuracy against the labels (held out): tree %.4f, rules %.4f, network %.4f\n",
                  r.tree_accuracy, r.rules_accuracy, r.network_accuracy);
    s += b;
  }
  return s;
}

namespace {

std::string render_distill(const GlobalContext& ctx) {
  if (!ctx.data.defined() || ctx.data.ndim() < 2) throw Error("global section 'distill' needs a data set");
  std::vector<int64_t> labels;
  if (ctx.labels.defined()) {
    const Tensor y = ctx.labels.to(DType::I64);
    labels.assign(y.data<int64_t>(), y.data<int64_t>() + y.numel());
  }
  DistillOptions o;
  o.tree.max_depth = ctx.options.get_int("max-depth", 4);
  o.tree.min_leaf = ctx.options.get_int("min-leaf", 5);
  o.held_out = ctx.options.get_double("held-out", 0.3);
  o.seed = static_cast<uint64_t>(ctx.options.get_int("seed", 0));
  const std::string targets = ctx.options.get("targets", "soft");
  if (targets != "soft" && targets != "argmax")
    throw Error("--global-option targets=" + targets + ": expected soft or argmax");
  o.soft = targets == "soft";
  const DistillResult r =
      distill(distill_data_from_model(*ctx.model, ctx.data, labels, ctx.options.get("layer", "")), o);
  auto cell = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.4f", v);
    return v < 0 ? std::string("-") : std::string(b);
  };
  const std::string size =
      "depth " + std::to_string(r.tree.depth()) + ", " + std::to_string(r.tree.leaves()) + " leaves";
  std::string html = "<p>" + std::to_string(r.train_rows) + " rows fit (" + targets + " targets), " +
                     std::to_string(r.test_rows) + " held out; fidelity = agreement with the network's class.</p>";
  html += html_table({"model", "size", "fidelity (held out)", "accuracy (held out)"},
                     {{"decision tree", size, cell(r.tree_fidelity), cell(r.tree_accuracy)},
                      {"rule list", std::to_string(r.rules.rules.size()) + " rules + default", cell(r.rules_fidelity),
                       cell(r.rules_accuracy)},
                      {"network", "", "1", cell(r.network_accuracy)}});
  html += "<pre>" + html_escape(format_rules(r.rules, r.feature_names, r.class_names)) + "</pre>";
  return html;
}

const GlobalSectionRegistration kDistillSection(GlobalSection{
    "distill",
    "Distillation into a decision tree and a rule list",
    "CART fitted to the network's predictions, read as ordered rules; fidelity and accuracy on held-out rows "
    "(Craven & Shavlik 1996; Frosst & Hinton 2017).",
    {{"max-depth", "4", "tree depth limit", "INT"},
     {"min-leaf", "5", "fewest rows on each side of a split", "INT"},
     {"targets", "soft", "fit the network's softmax (soft) or a one-hot of its argmax", "{soft,argmax}"},
     {"layer", "", "features: this tensor's values (default: the input pixels)", "TEXT"},
     {"held-out", "0.3", "share of the rows kept out of the fit", "FLOAT"},
     {"seed", "0", "the split's shuffle", "INT"}},
    render_distill});

}  // namespace

}  // namespace xdnn::explain
