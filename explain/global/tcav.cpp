// TCAV (Kim et al. 2018): see tcav.h.
#include "explain/global/tcav.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/check.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/ops_onnx.h"
#include "engine/random.h"

namespace xdnn::explain {

namespace {

constexpr int64_t kChunk = 500;

double mean_of(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// Sum of squared deviations from the mean.
double squares_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double s = 0.0;
  for (double x : v) s += (x - m) * (x - m);
  return s;
}

// The continued fraction of I_x(a, b) (A&S 26.5.8), 1 / (1 + d1 / (1 + d2 / (1 + ...))), by the modified
// Lentz method; converges fast for x < (a + 1) / (a + b + 2).
double beta_fraction(double x, double a, double b) {
  const double tiny = 1e-300;
  double f = 1.0, C = 1.0, D = 0.0;
  for (int m = 0; m < 1000; ++m) {
    for (int odd = 0; odd < 2; ++odd) {
      if (m == 0 && odd == 0) continue;  // d_0 does not exist; the first term is d_1 (m = 0, odd)
      const double d = odd ? -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
                           : m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
      D = 1.0 + d * D;
      D = std::abs(D) < tiny ? tiny : D;
      C = 1.0 + d / C;
      C = std::abs(C) < tiny ? tiny : C;
      D = 1.0 / D;
      f *= C * D;
    }
    if (m > 0 && std::abs(C * D - 1.0) < 1e-15) break;
  }
  return 1.0 / f;
}

std::vector<int64_t> draw_set(int64_t pool, int64_t size, Rng& rng) {
  std::vector<int64_t> idx(static_cast<size_t>(pool));
  for (int64_t i = 0; i < pool; ++i) idx[static_cast<size_t>(i)] = i;
  for (int64_t i = 0; i < size; ++i) std::swap(idx[static_cast<size_t>(i)], idx[i + rng.below(pool - i)]);
  idx.resize(static_cast<size_t>(size));
  return idx;
}

}  // namespace

double regularized_incomplete_beta(double x, double a, double b) {
  check(a > 0 && b > 0 && x >= 0 && x <= 1, "incomplete beta: expected a, b > 0 and x in [0, 1]");
  if (x == 0.0 || x == 1.0) return x;
  const double front =
      std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_fraction(x, a, b) / a;
  return 1.0 - front * beta_fraction(1.0 - x, b, a) / b;  // I_x(a, b) = 1 − I_{1−x}(b, a)
}

TTest two_sample_t_test(const std::vector<double>& a, const std::vector<double>& b) {
  check(a.size() >= 2 && b.size() >= 2, "t-test: each sample needs at least 2 values");
  const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  TTest r;
  r.dof = na + nb - 2.0;
  const double pooled = (squares_of(a) + squares_of(b)) / r.dof;
  const double diff = mean_of(a) - mean_of(b);
  if (!(pooled > 0.0)) {
    r.t = diff == 0.0 ? 0.0 : std::copysign(std::numeric_limits<double>::infinity(), diff);
    r.p = diff == 0.0 ? 1.0 : 0.0;
    return r;
  }
  r.t = diff / std::sqrt(pooled * (1.0 / na + 1.0 / nb));
  // P(|T| > |t|) for Student's t with ν degrees of freedom = I_{ν/(ν+t²)}(ν/2, 1/2).
  r.p = regularized_incomplete_beta(r.dof / (r.dof + r.t * r.t), r.dof / 2.0, 0.5);
  return r;
}

Tensor concept_activation_vector(const Tensor& concept_acts, const Tensor& random_acts, const ProbeOptions& opt,
                                 double* accuracy) {
  check(concept_acts.ndim() == 2 && random_acts.ndim() == 2 && concept_acts.dim(1) == random_acts.dim(1),
        "tcav: concept and random activations must be (rows, F) of the same F, got " + concept_acts.describe() +
            " and " + random_acts.describe());
  const int64_t nc = concept_acts.dim(0), nr = random_acts.dim(0), F = concept_acts.dim(1);
  const Tensor x = ops::concat_axis({concept_acts.to(DType::F32), random_acts.to(DType::F32)}, 0);  // (nc + nr, F)
  std::vector<int64_t> labels(static_cast<size_t>(nc + nr), 0), groups(static_cast<size_t>(nc + nr));
  for (int64_t i = 0; i < nc + nr; ++i) groups[static_cast<size_t>(i)] = i;
  std::fill_n(labels.begin(), nc, 1);
  const ProbeSplit split = split_probe_rows(groups, opt.holdout, opt.seed);
  const LinearProbe p = fit_linear_probe(x, labels, 2, split.train, opt);
  if (accuracy) {
    const Tensor test_rows = Tensor::from_vector({static_cast<int64_t>(split.test.size())}, split.test).to(x.device());
    const std::vector<int64_t> pred = p.predict(ops::gather_axis(x, test_rows, 0));
    int64_t right = 0;
    for (size_t i = 0; i < pred.size(); ++i) right += pred[i] == labels[static_cast<size_t>(split.test[i])];
    *accuracy = static_cast<double>(right) / static_cast<double>(pred.size());
  }
  // z1 − z0 = Σ_j (W1j − W0j) (x_j − mean_j) / scale_j + const: the normal in activation units.
  const Tensor v = ops::div(ops::sub(p.weight.slice_batch(1, 2), p.weight.slice_batch(0, 1)), p.scale.reshape({1, F}));
  const double norm = ops::sum_all(ops::unary(ops::Unary::Square, v));
  if (!(norm > 0.0))
    throw Error("tcav: the concept and random activations cannot be told apart at this layer (zero CAV)");
  return ops::div(v, ops::full({1, 1}, std::sqrt(norm), DType::F64, v.device())).reshape({F});
}

Tensor logit_gradients_at(const Model& model, const Tensor& inputs, const std::string& layer, int64_t target) {
  const int id = model.value_id(layer);
  check(model.outputs().size() == 1, "tcav: expected a model with one output (the logits)");
  const int out_id = model.outputs()[0];
  const int64_t N = inputs.dim(0), chunk = model.exported_batch > 0 ? model.exported_batch : kChunk;
  Tensor out;
  for (int64_t b = 0; b < N; b += chunk) {
    const int64_t e = std::min(N, b + chunk);
    const Tape tape = model.forward({inputs.slice_batch(b, e)});
    const Tensor& logits = tape.values[static_cast<size_t>(out_id)];
    check(logits.ndim() == 2 && logits.dim(0) == e - b,
          "tcav: expected logits (N, classes) at the output, got " + logits.describe());
    if (target < 0 || target >= logits.dim(1))
      throw Error("tcav: class " + std::to_string(target) + " out of range: the model has " +
                  std::to_string(logits.dim(1)) + " classes");
    // ∂(target logit)/∂logits: one-hot rows, made on the logits' device.
    const Tensor targets = Tensor::from_vector({e - b}, std::vector<int64_t>(static_cast<size_t>(e - b), target));
    const Tensor seed = ops::one_hot(targets.to(logits.device()), logits.dim(1), logits.dtype());
    const std::vector<Tensor> grads = model.backward(tape, {{out_id, seed}});
    const Tensor& g = grads[static_cast<size_t>(id)];
    if (!g.defined() || g.dim(0) != e - b)
      throw Error("tcav: the logits do not depend on layer '" + layer + "'", "choose a layer before the output");
    const int64_t F = g.numel() / (e - b);
    if (!out.defined()) out = Tensor::empty({N, F}, DType::F64, g.device());
    out.slice_batch(b, e).copy_from(g.to(DType::F64).reshape({e - b, F}));
  }
  return out;
}

double tcav_score(const Tensor& gradients, const Tensor& cav) {
  check(
      gradients.dtype() == DType::F64 && gradients.ndim() == 2 && cav.dtype() == DType::F64 && cav.ndim() == 1 &&
          gradients.dim(1) == cav.dim(0),
      "tcav: gradients (N, F) and a CAV (F) float64 expected, got " + gradients.describe() + " and " + cav.describe());
  const int64_t N = gradients.dim(0), F = gradients.dim(1);
  check(N > 0, "tcav: no inputs of the class");
  // S(x_n) = Σ_j g_nj v_j summed in j order, each product rounded (N, 1); the score counts S > 0.
  const Tensor s = ops::reduce_axes(ops::ReduceOp::Sum, ops::mul(gradients, cav.reshape({1, F})), {N, 1})[0];
  const double positive = ops::sum_all(ops::unary(ops::Unary::Step, s));
  return positive / static_cast<double>(N);
}

TcavResult tcav_with_sets(const Model& model, const Tensor& class_inputs, int64_t target, const std::string& layer,
                          const Tensor& concept_inputs, const std::vector<Tensor>& random_sets,
                          const TcavOptions& opt) {
  model.value_id(layer);  // an unknown layer fails before any work
  const int64_t nc = concept_inputs.defined() && concept_inputs.ndim() >= 1 ? concept_inputs.dim(0) : 0;
  if (nc < opt.min_examples)
    throw Error("tcav: the concept set has " + std::to_string(nc) + " examples, expected at least " +
                std::to_string(opt.min_examples));
  const int64_t runs = static_cast<int64_t>(random_sets.size()) - 1;
  if (runs < 2)
    throw Error("tcav: " + std::to_string(random_sets.size()) + " random set(s), expected at least 3",
                "one for the null's concept and two or more counter-example sets (the t-test needs two scores a side)");
  for (size_t i = 0; i < random_sets.size(); ++i) {
    const int64_t n = random_sets[i].defined() && random_sets[i].ndim() >= 1 ? random_sets[i].dim(0) : 0;
    if (n < opt.min_examples)
      throw Error("tcav: random set " + std::to_string(i) + " has " + std::to_string(n) +
                  " examples, expected at least " + std::to_string(opt.min_examples));
  }
  check(class_inputs.defined() && class_inputs.ndim() >= 1 && class_inputs.dim(0) >= 1, "tcav: no class inputs");
  TcavResult r;
  r.layer = layer;
  r.target = target;
  r.inputs = class_inputs.dim(0);
  r.concept_examples = nc;
  const Tensor grads = logit_gradients_at(model, class_inputs, layer, target);
  const Tensor concept_acts = collect_activations(model, concept_inputs, {layer})[0];
  check(concept_acts.dim(1) == grads.dim(1), "tcav: layer '" + layer + "' differs in size between inputs");
  std::vector<Tensor> sets;
  for (const Tensor& s : random_sets) sets.push_back(collect_activations(model, s, {layer})[0]);
  for (int64_t i = 1; i <= runs; ++i) {
    ProbeOptions c = opt.classifier;
    c.seed = opt.seed * 1000 + static_cast<uint64_t>(i);
    double accuracy = 0.0;
    r.concept_scores.push_back(tcav_score(grads, concept_activation_vector(concept_acts, sets[i], c, &accuracy)));
    r.cav_accuracy.push_back(accuracy);
    r.random_scores.push_back(tcav_score(grads, concept_activation_vector(sets[0], sets[i], c)));
  }
  r.mean = mean_of(r.concept_scores);
  r.sd = std::sqrt(squares_of(r.concept_scores) / static_cast<double>(runs - 1));
  r.random_mean = mean_of(r.random_scores);
  r.random_sd = std::sqrt(squares_of(r.random_scores) / static_cast<double>(runs - 1));
  r.test = two_sample_t_test(r.concept_scores, r.random_scores);
  r.significant = r.test.p < opt.alpha;
  return r;
}

TcavResult tcav(const Model& model, const Tensor& class_inputs, int64_t target, const std::string& layer,
                const Tensor& concept_inputs, const Tensor& random_pool, const TcavOptions& opt) {
  model.value_id(layer);
  const int64_t nc = concept_inputs.defined() && concept_inputs.ndim() >= 1 ? concept_inputs.dim(0) : 0;
  if (nc < opt.min_examples)
    throw Error("tcav: the concept set has " + std::to_string(nc) + " examples, expected at least " +
                std::to_string(opt.min_examples));
  const int64_t np = random_pool.defined() && random_pool.ndim() >= 1 ? random_pool.dim(0) : 0;
  if (np < nc)
    throw Error(
        "tcav: the random pool has " + std::to_string(np) + " examples, fewer than the concept's " + std::to_string(nc),
        "random sets are as large as the concept set");
  check(opt.runs >= 2, "tcav: runs must be >= 2 (the t-test needs two scores per side)");
  Rng rng(opt.seed * 0x9E3779B97F4A7C15ull + 0x74636176ull);  // "tcav"
  std::vector<Tensor> sets;
  for (int64_t s = 0; s <= opt.runs; ++s) {
    const std::vector<int64_t> rows = draw_set(np, nc, rng);
    sets.push_back(ops::gather_axis(random_pool, Tensor::from_vector({nc}, rows).to(random_pool.device()), 0));
  }
  return tcav_with_sets(model, class_inputs, target, layer, concept_inputs, sets, opt);
}

}  // namespace xdnn::explain
