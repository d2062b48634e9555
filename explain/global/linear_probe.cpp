// Linear probes with control tasks: see linear_probe.h.
#include "explain/global/linear_probe.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "engine/check.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/random.h"

namespace xdnn::explain {

namespace {

constexpr int64_t kScoreChunk = 1024;  // rows per product when scoring

// The probe's products in the data's units: z = x W'ᵀ + b' with W' = W / scale (per column) and
// b' = b − W' mean, so the standardised features are never materialised (a layer of 10,000 × 6,272 floats
// is 250 MB; a copy would double it).
struct Folded {
  Tensor weight;  // float32 (C, F)
  std::vector<double> bias;
};

Folded fold(const LinearProbe& p) {
  Folded f{Tensor::zeros({p.classes, p.features}, DType::F32), std::vector<double>(p.classes)};
  float* w = f.weight.data<float>();
  for (int64_t c = 0; c < p.classes; ++c) {
    double shift = 0.0;
    for (int64_t j = 0; j < p.features; ++j) {
      const double wj = p.weight[c * p.features + j] / p.scale[j];
      w[c * p.features + j] = static_cast<float>(wj);
      shift += wj * p.mean[j];
    }
    f.bias[c] = p.bias[c] - shift;
  }
  return f;
}

// Rows `rows[begin, end)` of x (M, F) float32 as a (end − begin, F) view of `buffer` (≥ end − begin rows),
// reused across batches: a fresh 256 × 6,272 batch per step would be mapped and unmapped every time.
Tensor gather_rows(const Tensor& x, const std::vector<int64_t>& rows, size_t begin, size_t end, Tensor& buffer) {
  const int64_t F = x.dim(1);
  Tensor out = buffer.slice_batch(0, static_cast<int64_t>(end - begin));
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  for (size_t i = begin; i < end; ++i) std::copy_n(src + rows[i] * F, F, dst + (i - begin) * F);
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
  const Folded f = fold(p);
  int64_t right = 0;
  Tensor buffer = Tensor::empty({std::min<int64_t>(kScoreChunk, static_cast<int64_t>(rows.size())), x.dim(1)});
  for (size_t b = 0; b < rows.size(); b += kScoreChunk) {
    const size_t e = std::min(rows.size(), b + kScoreChunk);
    const Tensor z = ops::matmul(gather_rows(x, rows, b, e, buffer), f.weight, false, true);  // (e − b, C)
    const float* zp = z.data<float>();
    for (size_t i = b; i < e; ++i) {
      int64_t best = 0;
      for (int64_t c = 1; c < p.classes; ++c)
        if (zp[(i - b) * p.classes + c] + f.bias[c] > zp[(i - b) * p.classes + best] + f.bias[best]) best = c;
      right += best == labels[rows[i]];
    }
  }
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
  std::vector<int64_t> rows(static_cast<size_t>(x.dim(0)));
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
  const Folded f = fold(*this);
  std::vector<int64_t> out(rows.size());
  Tensor buffer = Tensor::empty({std::min<int64_t>(kScoreChunk, static_cast<int64_t>(rows.size())), x.dim(1)});
  for (size_t b = 0; b < rows.size(); b += kScoreChunk) {
    const size_t e = std::min(rows.size(), b + kScoreChunk);
    const Tensor z = ops::matmul(gather_rows(x, rows, b, e, buffer), f.weight, false, true);
    const float* zp = z.data<float>();
    for (size_t i = b; i < e; ++i) {
      int64_t best = 0;
      for (int64_t c = 1; c < classes; ++c)
        if (zp[(i - b) * classes + c] + f.bias[c] > zp[(i - b) * classes + best] + f.bias[best]) best = c;
      out[i] = best;
    }
  }
  return out;
}

namespace {

// Mean and standard deviation of every column of x (M, F) over `rows` (two passes, float64). A constant
// feature gets scale 1: its weight then only ever sees zeros and stays 0.
void standardisation(const Tensor& x, const std::vector<int64_t>& rows, std::vector<double>& mean,
                     std::vector<double>& scale) {
  const int64_t F = x.dim(1);
  mean.assign(F, 0.0);
  scale.assign(F, 0.0);
  const float* xp = x.data<float>();
  for (int64_t r : rows)
    for (int64_t j = 0; j < F; ++j) mean[j] += xp[r * F + j];
  const double n = static_cast<double>(rows.size());
  for (double& m : mean) m /= n;
  for (int64_t r : rows)
    for (int64_t j = 0; j < F; ++j) {
      const double d = xp[r * F + j] - mean[j];
      scale[j] += d * d;
    }
  for (double& s : scale) s = s > 0.0 ? std::sqrt(s / n) : 1.0;
  for (double& s : scale) s = s > 1e-12 ? s : 1.0;
}

// fit_linear_probe; with `stats` the standardisation of that probe (fitted on the same rows) is reused, as
// the control probe of a layer does (two passes over 8,000 × 6,272 values saved).
LinearProbe fit_probe(const Tensor& x, const std::vector<int64_t>& labels, int64_t classes,
                      const std::vector<int64_t>& train_rows, const ProbeOptions& opt, const LinearProbe* stats) {
  const int64_t F = x.dim(1), C = classes;
  check(static_cast<int64_t>(labels.size()) == x.dim(0),
        "probe: " + std::to_string(labels.size()) + " labels for " + x.describe());
  check(C >= 2, "probe: needs at least two classes");
  check(!train_rows.empty(), "probe: no training rows");
  check(opt.epochs >= 1 && opt.batch_size >= 1, "probe: epochs and batch size must be >= 1");
  LinearProbe p;
  p.classes = C;
  p.features = F;
  p.weight.assign(C * F, 0.0);
  p.bias.assign(C, 0.0);
  if (stats) {
    p.mean = stats->mean;
    p.scale = stats->scale;
  } else {
    standardisation(x, train_rows, p.mean, p.scale);
  }

  // Adam (Kingma & Ba 2015, Algorithm 1) on the mean cross-entropy of a batch plus (λ/2)‖W‖².
  const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  std::vector<double> mw(C * F, 0.0), vw(C * F, 0.0), mb(C, 0.0), vb(C, 0.0);
  std::vector<int64_t> order = train_rows;
  Tensor buffer = Tensor::empty({std::min<int64_t>(opt.batch_size, static_cast<int64_t>(order.size())), F});
  Rng rng(opt.seed * 0x9E3779B97F4A7C15ull + 0x70726F6265ull);  // "probe"
  int64_t step = 0;
  const int64_t per_epoch = (static_cast<int64_t>(order.size()) + opt.batch_size - 1) / opt.batch_size;
  const int64_t epochs = std::max(opt.epochs, (opt.min_steps + per_epoch - 1) / per_epoch);
  const double total_steps = static_cast<double>(per_epoch * epochs);
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    shuffle(order, rng);
    for (size_t b = 0; b < order.size(); b += static_cast<size_t>(opt.batch_size)) {
      const size_t e = std::min(order.size(), b + static_cast<size_t>(opt.batch_size));
      const int64_t B = static_cast<int64_t>(e - b);
      const Tensor xb = gather_rows(x, order, b, e, buffer);
      const Folded f = fold(p);
      Tensor g = ops::matmul(xb, f.weight, false, true);  // logits (B, C), then dLoss/dlogits
      float* gp = g.data<float>();
      std::vector<double> gb(C, 0.0);
      for (int64_t i = 0; i < B; ++i) {
        double top = -INFINITY;
        for (int64_t c = 0; c < C; ++c) top = std::max(top, gp[i * C + c] + f.bias[c]);
        double sum = 0.0;
        std::vector<double> prob(C);
        for (int64_t c = 0; c < C; ++c) sum += prob[c] = std::exp(gp[i * C + c] + f.bias[c] - top);
        const int64_t y = labels[order[b + i]];
        for (int64_t c = 0; c < C; ++c) {
          const double d = (prob[c] / sum - (c == y ? 1.0 : 0.0)) / static_cast<double>(B);
          gp[i * C + c] = static_cast<float>(d);
          gb[c] += d;
        }
      }
      const Tensor gw = ops::matmul(g, xb, true, false);  // dLoss/dW' (C, F)
      const float* gwp = gw.data<float>();
      ++step;
      const double c1 = 1.0 - std::pow(beta1, static_cast<double>(step));
      const double c2 = 1.0 - std::pow(beta2, static_cast<double>(step));
      // The step size decays linearly to 0 over the run: the last iterate, which the probe keeps, then sits
      // near a minimum instead of rattling around it at the full step size.
      const double lr = opt.learning_rate * (1.0 - static_cast<double>(step - 1) / total_steps);
      for (int64_t c = 0; c < C; ++c) {
        for (int64_t j = 0; j < F; ++j) {
          const int64_t k = c * F + j;
          // Through W' = W / scale and b' = b − W' mean: dW = (dW' − db' mean) / scale.
          const double grad = (gwp[k] - gb[c] * p.mean[j]) / p.scale[j] + opt.weight_decay * p.weight[k];
          mw[k] = beta1 * mw[k] + (1 - beta1) * grad;
          vw[k] = beta2 * vw[k] + (1 - beta2) * grad * grad;
          p.weight[k] -= lr * (mw[k] / c1) / (std::sqrt(vw[k] / c2) + eps);
        }
        mb[c] = beta1 * mb[c] + (1 - beta1) * gb[c];
        vb[c] = beta2 * vb[c] + (1 - beta2) * gb[c] * gb[c];
        p.bias[c] -= lr * (mb[c] / c1) / (std::sqrt(vb[c] / c2) + eps);
      }
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
