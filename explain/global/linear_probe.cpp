// Linear probes with control tasks: see linear_probe.h.
#include "explain/global/linear_probe.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "engine/check.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/ops_onnx.h"
#include "engine/ops_optim.h"
#include "engine/random.h"

namespace xdnn::explain {

namespace {

constexpr int64_t kScoreChunk = 1024;  // rows per product when scoring
constexpr int64_t kStatsChunk = 256;   // rows per step of the standardisation's sums

// Entries [begin, end) of v as an int64 tensor (end − begin) on `device`: one copy from the host.
Tensor index_tensor(const std::vector<int64_t>& v, size_t begin, size_t end, Device device) {
  const std::vector<int64_t> part(v.begin() + static_cast<std::ptrdiff_t>(begin),
                                  v.begin() + static_cast<std::ptrdiff_t>(end));
  return Tensor::from_vector({static_cast<int64_t>(part.size())}, part).to(device);
}

// The probe's products in the data's units: z = x W'ᵀ + b' with W' = W / scale (per column) and
// b' = b − W' mean, so the standardised features are never materialised (a layer of 10,000 × 6,272 floats
// is 250 MB; a copy would double it).
struct Folded {
  Tensor weight;  // float32 (C, F)
  Tensor bias;    // float64 (1, C)
};

Folded fold(const LinearProbe& p) {
  const int64_t C = p.classes, F = p.features;
  const Tensor w = ops::div(p.weight, p.scale.reshape({1, F}));  // W' (C, F) float64
  // Σ_j W'_cj mean_j summed in j order, each product rounded (no fused multiply-add): (C, 1).
  const Tensor shift = ops::reduce_axes(ops::ReduceOp::Sum, ops::mul(w, p.mean.reshape({1, F})), {C, 1})[0];
  return {w.to(DType::F32), ops::sub(p.bias.reshape({C, 1}), shift).reshape({1, C})};
}

// Logits z = xb W'ᵀ + b' of rows xb (B, F) float32: the product in float32, the bias added in float64 (B, C).
Tensor logits_of(const Tensor& xb, const Folded& f) {
  return ops::add(ops::matmul(xb, f.weight, false, true).to(DType::F64), f.bias);
}

// The probe's class of rows `rows` of x (M, F) float32 (every row in order when `rows` is null): the first
// largest logit. The classes come back to the host (ops::index_vector): they are what the probe reports.
std::vector<int64_t> classes_of(const LinearProbe& p, const Tensor& x, const std::vector<int64_t>* rows) {
  const Folded f = fold(p);
  const size_t n = rows ? rows->size() : static_cast<size_t>(x.dim(0));
  std::vector<int64_t> out;
  out.reserve(n);
  for (size_t b = 0; b < n; b += kScoreChunk) {
    const size_t e = std::min(n, b + kScoreChunk);
    const Tensor xb = rows ? ops::gather_axis(x, index_tensor(*rows, b, e, x.device()), 0)
                           : x.slice_batch(static_cast<int64_t>(b), static_cast<int64_t>(e));
    const std::vector<int64_t> best = ops::index_vector(ops::argmax_last_axis(logits_of(xb, f)));
    out.insert(out.end(), best.begin(), best.end());
  }
  return out;
}

Tensor as_rows_f32(const Tensor& x, const std::string& what) {
  check(x.defined() && x.is_float() && x.ndim() == 2,
        what + ": expected float features (rows, F), got " + (x.defined() ? x.describe() : std::string("nothing")));
  return x.to(DType::F32);
}

double accuracy_on(const LinearProbe& p, const Tensor& x, const std::vector<int64_t>& labels,
                   const std::vector<int64_t>& rows) {
  if (rows.empty()) return 0.0;
  const std::vector<int64_t> predicted = classes_of(p, x, &rows);
  int64_t right = 0;
  for (size_t i = 0; i < rows.size(); ++i) right += predicted[i] == labels[static_cast<size_t>(rows[i])];
  return static_cast<double>(right) / static_cast<double>(rows.size());
}

void shuffle(std::vector<int64_t>& v, Rng& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

int64_t class_count(const std::vector<int64_t>& labels, const std::string& what) {
  int64_t classes = 0;
  for (int64_t y : labels) {
    if (y < 0) throw Error(what + ": labels must be class indices >= 0, got " + std::to_string(y));
    classes = std::max(classes, y + 1);
  }
  if (classes < 2) throw Error(what + ": a probe needs at least two classes among the labels");
  return classes;
}

}  // namespace

std::vector<int64_t> LinearProbe::predict(const Tensor& x_in) const {
  const Tensor x = as_rows_f32(x_in, "probe");
  check(x.dim(1) == features, "probe: expected " + std::to_string(features) + " features, got " + x.describe());
  return classes_of(*this, x, nullptr);
}

namespace {

// Mean and standard deviation (F) float64 of every column of x (M, F) float32 over `rows`, two passes over
// gathered chunks of rows: Σ x and then Σ (x − mean)², each column summed in the order of `rows` in float64
// (accumulate_weighted_rows with weight 1: the sums of the serial loop). A constant feature (sd ≤ 1e-12) gets
// scale 1: its weight then only ever sees zeros and stays 0.
void standardisation(const Tensor& x, const std::vector<int64_t>& rows, Tensor& mean, Tensor& scale) {
  const int64_t F = x.dim(1), R = static_cast<int64_t>(rows.size());
  const Device device = x.device();
  const Tensor at = index_tensor(rows, 0, rows.size(), device);  // (R)
  const Tensor n = ops::full({1}, static_cast<double>(R), DType::F64, device);
  Tensor sum(Shape{F}, DType::F64, device), squares(Shape{F}, DType::F64, device);
  for (int64_t b = 0; b < R; b += kStatsChunk) {
    const int64_t e = std::min(R, b + kStatsChunk);
    const Tensor xb = ops::gather_axis(x, at.slice_batch(b, e), 0);  // (e − b, F) float32
    ops::accumulate_weighted_rows(sum, xb, std::vector<double>(static_cast<size_t>(e - b), 1.0));
  }
  mean = ops::div(sum, n);
  for (int64_t b = 0; b < R; b += kStatsChunk) {
    const int64_t e = std::min(R, b + kStatsChunk);
    const Tensor d = ops::sub(ops::gather_axis(x, at.slice_batch(b, e), 0).to(DType::F64), mean.reshape({1, F}));
    ops::accumulate_weighted_rows(squares, ops::unary(ops::Unary::Square, d),
                                  std::vector<double>(static_cast<size_t>(e - b), 1.0));
  }
  const Tensor sd = ops::unary(ops::Unary::Sqrt, ops::div(squares, n));
  // sd − 1e-12 > 0 exactly when sd > 1e-12 (a difference of doubles is 0 only for equal ones); NaN fails.
  const Tensor keep = ops::unary(ops::Unary::Step, ops::add_scalar(sd, -1e-12));
  scale = ops::where(keep, sd, ops::full({F}, 1.0, DType::F64, device));
}

// fit_linear_probe; with `stats` the standardisation of that probe (fitted on the same rows) is reused, as
// the control probe of a layer does (two passes over 8,000 × 6,272 values saved). Everything runs on x's
// device: the rows of a batch gathered there, the order and labels copied up once per epoch.
LinearProbe fit_probe(const Tensor& x, const std::vector<int64_t>& labels, int64_t classes,
                      const std::vector<int64_t>& train_rows, const ProbeOptions& opt, const LinearProbe* stats) {
  const int64_t F = x.dim(1), C = classes;
  check(static_cast<int64_t>(labels.size()) == x.dim(0),
        "probe: " + std::to_string(labels.size()) + " labels for " + x.describe());
  check(C >= 2, "probe: needs at least two classes");
  check(!train_rows.empty(), "probe: no training rows");
  check(opt.epochs >= 1 && opt.batch_size >= 1, "probe: epochs and batch size must be >= 1");
  const Device device = x.device();
  LinearProbe p;
  p.classes = C;
  p.features = F;
  p.weight = Tensor({C, F}, DType::F64, device);
  p.bias = Tensor({C}, DType::F64, device);
  if (stats) {
    p.mean = stats->mean;
    p.scale = stats->scale;
  } else {
    standardisation(x, train_rows, p.mean, p.scale);
  }

  // Adam (Kingma & Ba 2015, Algorithm 1; ops::adam_step_inplace) on the mean cross-entropy of a batch plus
  // (λ/2)‖W‖².
  Tensor mw({C, F}, DType::F64, device), vw({C, F}, DType::F64, device);
  Tensor mb({C}, DType::F64, device), vb({C}, DType::F64, device);
  const Tensor all_labels = Tensor::from_vector({x.dim(0)}, labels).to(device);
  std::vector<int64_t> order = train_rows;
  Rng rng(opt.seed * 0x9E3779B97F4A7C15ull + 0x70726F6265ull);  // "probe"
  int64_t step = 0;
  const int64_t R = static_cast<int64_t>(order.size());
  const int64_t per_epoch = (R + opt.batch_size - 1) / opt.batch_size;
  const int64_t epochs = std::max(opt.epochs, (opt.min_steps + per_epoch - 1) / per_epoch);
  const double total_steps = static_cast<double>(per_epoch * epochs);
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    shuffle(order, rng);
    const Tensor epoch_rows = index_tensor(order, 0, order.size(), device);   // (R)
    const Tensor epoch_labels = ops::gather_axis(all_labels, epoch_rows, 0);  // (R)
    for (int64_t b = 0; b < R; b += opt.batch_size) {
      const int64_t e = std::min(R, b + opt.batch_size), B = e - b;
      const Tensor xb = ops::gather_axis(x, epoch_rows.slice_batch(b, e), 0);  // (B, F) float32
      const Tensor z = logits_of(xb, fold(p));                                 // (B, C) float64
      // dLoss/dlogits of the batch mean: (softmax(z) − onehot(y)) / B, and dLoss/db' its column sums (1, C).
      const Tensor g = ops::cross_entropy_backward(z, epoch_labels.slice_batch(b, e), 1.0 / static_cast<double>(B));
      const Tensor gb = ops::reduce_axes(ops::ReduceOp::Sum, g, {1, C})[0];
      const Tensor gw = ops::matmul(g.to(DType::F32), xb, true, false).to(DType::F64);  // dLoss/dW' (C, F)
      // Through W' = W / scale and b' = b − W' mean: dW = (dW' − db'ᵀ mean) / scale.
      const Tensor outer = ops::mul(gb.reshape({C, 1}), p.mean.reshape({1, F}));  // (C, F)
      const Tensor grad_w = ops::div(ops::sub(gw, outer), p.scale.reshape({1, F}));
      ++step;
      // The step size decays linearly to 0 over the run: the last iterate, which the probe keeps, then sits
      // near a minimum instead of rattling around it at the full step size.
      const double lr = opt.learning_rate * (1.0 - static_cast<double>(step - 1) / total_steps);
      ops::adam_step_inplace(p.weight, grad_w, mw, vw, {lr, 0.9, 0.999, 1e-8, opt.weight_decay, step});
      ops::adam_step_inplace(p.bias, gb.reshape({C}), mb, vb, {lr, 0.9, 0.999, 1e-8, 0.0, step});
    }
  }
  return p;
}

}  // namespace

LinearProbe fit_linear_probe(const Tensor& x, const std::vector<int64_t>& labels, int64_t classes,
                             const std::vector<int64_t>& train_rows, const ProbeOptions& opt) {
  return fit_probe(as_rows_f32(x, "probe"), labels, classes, train_rows, opt, nullptr);
}

std::vector<int64_t> control_task_labels(const std::vector<int64_t>& types, const std::vector<int64_t>& labels,
                                         uint64_t seed) {
  check(types.size() == labels.size() && !labels.empty(), "control task: one type per labelled row expected");
  Rng rng(seed * 0x9E3779B97F4A7C15ull + 0x636F6E74726F6Cull);  // "control"
  std::map<int64_t, int64_t> label_of_type;
  std::vector<int64_t> out(types.size());
  // Types take their labels in order of first appearance, so the draw depends only on the rows' order.
  for (size_t i = 0; i < types.size(); ++i) {
    auto it = label_of_type.find(types[i]);
    if (it == label_of_type.end()) it = label_of_type.emplace(types[i], labels[rng.below(labels.size())]).first;
    out[i] = it->second;
  }
  return out;
}

ProbeSplit split_probe_rows(const std::vector<int64_t>& groups, double holdout, uint64_t seed) {
  check(holdout > 0.0 && holdout < 1.0, "probe: holdout must be a fraction in (0, 1), got " + std::to_string(holdout));
  std::vector<int64_t> distinct(groups.begin(), groups.end());
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  const int64_t G = static_cast<int64_t>(distinct.size());
  if (G < 2) throw Error("probe: needs at least 2 samples to hold some out, got " + std::to_string(G));
  Rng rng(seed * 0x9E3779B97F4A7C15ull + 0x73706C6974ull);  // "split"
  shuffle(distinct, rng);
  const int64_t n_test =
      std::clamp<int64_t>(static_cast<int64_t>(std::ceil(holdout * static_cast<double>(G))), 1, G - 1);
  const std::set<int64_t> test(distinct.end() - n_test, distinct.end());
  ProbeSplit s;
  for (size_t i = 0; i < groups.size(); ++i)
    (test.count(groups[i]) ? s.test : s.train).push_back(static_cast<int64_t>(i));
  return s;
}

ProbeScore probe_features(const Tensor& x_in, const std::vector<int64_t>& labels, const std::vector<int64_t>& types,
                          const std::vector<int64_t>& groups, const ProbeOptions& opt, const std::string& layer) {
  const Tensor x = as_rows_f32(x_in, "probe of '" + layer + "'");
  const size_t M = static_cast<size_t>(x.dim(0));
  check(labels.size() == M && types.size() == M && groups.size() == M,
        "probe of '" + layer + "': labels, types and groups must have one entry per row (" + std::to_string(M) + ")");
  const int64_t classes = class_count(labels, "probe of '" + layer + "'");
  const ProbeSplit split = split_probe_rows(groups, opt.holdout, opt.seed);
  ProbeScore s;
  s.layer = layer;
  s.features = x.dim(1);
  const LinearProbe task = fit_probe(x, labels, classes, split.train, opt, nullptr);
  s.train_accuracy = accuracy_on(task, x, labels, split.train);
  s.accuracy = accuracy_on(task, x, labels, split.test);
  const std::vector<int64_t> control = control_task_labels(types, labels, opt.seed);
  const LinearProbe ctrl = fit_probe(x, control, classes, split.train, opt, &task);
  s.control_accuracy = accuracy_on(ctrl, x, control, split.test);
  s.selectivity = s.accuracy - s.control_accuracy;
  std::vector<int64_t> count(classes, 0);
  for (int64_t r : split.train) ++count[labels[r]];
  const int64_t common = std::max_element(count.begin(), count.end()) - count.begin();
  int64_t hits = 0;
  for (int64_t r : split.test) hits += labels[r] == common;
  s.majority = static_cast<double>(hits) / static_cast<double>(split.test.size());
  return s;
}

}  // namespace xdnn::explain
