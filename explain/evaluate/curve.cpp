// Deletion / insertion / MoRF / LeRF curves: see curve.h.
#include "explain/evaluate/curve.h"
#include "engine/check.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/error.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "explain/evaluate/tasks.h"
#include "explain/finite.h"
#include "explain/targets.h"

namespace xdnn::explain {

FeatureLayout feature_layout(const Tensor& input, const Tensor& attribution) {
  if (!input.defined() || !input.is_float() || input.ndim() < 2)
    throw Error("evaluate: expected a float input batch (N, C, H, W) or (N, D), got " +
                    (input.defined() ? input.describe() : std::string("nothing")),
                "token inputs are not supported by the perturbation metrics");
  if (!attribution.defined() || !attribution.is_float())
    throw Error("attribution: expected a float array, got " +
                (attribution.defined() ? attribution.describe() : std::string("nothing")));
  FeatureLayout L;
  L.samples = input.dim(0);
  L.elements = input.numel() / std::max<int64_t>(L.samples, 1);
  const Shape& xs = input.shape();
  const Shape& as = attribution.shape();
  Shape per_pixel;
  if (input.ndim() == 4) per_pixel = {xs[0], 1, xs[2], xs[3]};
  if (as == xs) {
    L.features = L.elements;
  } else if (input.ndim() == 4 && as == per_pixel) {
    L.channels = xs[1];
    L.features = xs[2] * xs[3];
  } else {
    throw Error("attribution: shape " + shape_str(as) + " does not match input " + shape_str(xs) +
                    (input.ndim() == 4 && xs[1] > 1
                         ? " (expected " + shape_str(xs) + " or per pixel " + shape_str(per_pixel) + ")"
                         : " (expected the same shape)"),
                "an attribution holds one value per input element, or per pixel for images");
  }
  if (L.samples < 1 || L.features < 1) throw Error("evaluate: the input batch " + input.describe() + " is empty");
  // The scan runs on the attribution's device (explain/finite.h); only a bad element's value comes back.
  const int64_t bad = first_nonfinite(attribution);
  if (bad >= 0) {
    const double v = ops::value_vector(attribution.reshape({-1}).slice_batch(bad, bad + 1))[0];
    throw Error("attribution: element " + std::to_string(bad) + " is " + (std::isnan(v) ? "NaN" : "infinite") +
                ", expected finite values");
  }
  return L;
}

std::vector<int64_t> order_largest_first(const double* a, int64_t D) {
  std::vector<int64_t> order(D);
  std::iota(order.begin(), order.end(), 0);
  // A stable sort on −a: −0.0 and +0.0 compare equal, so they keep their index order.
  std::stable_sort(order.begin(), order.end(), [a](int64_t i, int64_t j) { return a[i] > a[j]; });
  return order;
}

namespace {

// int64 (R) on `device`: the sample each row of a chunk comes from, for ops::gather_rows.
Tensor sample_ids(const std::vector<int64_t>& ids, Device device) {
  return Tensor::from_vector({static_cast<int64_t>(ids.size())}, ids).to(device);
}

std::vector<int64_t> order_smallest_first(const double* a, int64_t D) {
  std::vector<int64_t> order(D);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [a](int64_t i, int64_t j) { return a[i] < a[j]; });
  return order;
}

}  // namespace

std::vector<OptionSpec> curve_option_specs() {
  return {required_option(
              {"score", "", "the explained scalar: logit, prob or log-prob (required)", "{logit,prob,log-prob}"}),
          required_option({"steps", "", "number of curve steps n; the curve has n + 1 points (required)", "INT"}),
          {"baseline", "0", "value a removed feature takes (a number)", "FLOAT"}};
}

CurveSettings curve_settings(const Options& options, CurveKind kind) {
  CurveSettings s;
  s.kind = kind;
  if (options.get("score", "").empty()) throw Error("--score is required: logit, prob or log-prob");
  s.score = parse_score(options.get("score", ""));
  if (options.get("steps", "").empty()) throw Error("--steps is required: the number of curve steps (≥ 1)");
  s.steps = options.get_int("steps", 0);
  check(s.steps >= 1, "--steps " + std::to_string(s.steps) + ": expected at least 1");
  s.baseline = options.get_double("baseline", 0.0);
  check(std::isfinite(s.baseline), "--baseline: expected a finite number");
  return s;
}

MetricResult curve_metric(const MetricRequest& req, CurveKind kind) {
  const CurveSettings s = curve_settings(req.options, kind);
  MetricResult out;
  out.values = perturbation_curves(req.scoring_model(), req.input, req.attribution, req.targets, s);
  const std::vector<double> c = ops::value_vector(out.values);  // (N, steps + 1), a host tensor already
  for (int64_t n = 0; n < out.values.dim(0); ++n)
    out.summary.push_back(curve_auc(c.data() + n * (s.steps + 1), s.steps));
  out.summary_name = "AUC";
  return out;
}

double curve_auc(const double* c, int64_t steps) {
  double sum = 0.0;
  for (int64_t i = 1; i <= steps; ++i) sum += 0.5 * (c[i - 1] + c[i]);
  return sum / static_cast<double>(steps);
}

Tensor perturbation_curves(const Model& model, const Tensor& input, const Tensor& attribution,
                           const std::vector<int64_t>& targets, const CurveSettings& settings) {
  const FeatureLayout L = feature_layout(input, attribution);
  const int64_t N = L.samples, D = L.features, E = L.elements, n = settings.steps;
  check(n >= 1, "--steps " + std::to_string(n) + ": expected at least 1");
  if (static_cast<int64_t>(targets.size()) != N)
    throw Error("evaluate: " + std::to_string(targets.size()) + " targets for " + std::to_string(N) + " samples");
  // The orders are a host sort of the attribution's values (a copy); what the device gets is each element's
  // rank in its sample's order, rank (N, E) float64: element e is removed at point i iff rank < k_i.
  const std::vector<double> a = ops::value_vector(attribution);
  std::vector<double> rank(N * E);
  for (int64_t s = 0; s < N; ++s) {
    const std::vector<int64_t> order =
        settings.least_first ? order_smallest_first(a.data() + s * D, D) : order_largest_first(a.data() + s * D, D);
    for (int64_t j = 0; j < D; ++j)
      for (int64_t c = 0; c < L.channels; ++c) rank[s * E + feature_element(L, order[j], c)] = static_cast<double>(j);
  }
  const Device device = input.device();
  const Tensor ranks = host_rows(rank, N, E, device);
  const Tensor x = input.to(model.dtype());
  const bool deletion = settings.kind == CurveKind::Deletion;
  const int64_t points = n + 1;
  Shape row_shape = input.shape();
  auto make_rows = [&](int64_t r0, int64_t R) {
    std::vector<int64_t> sample(R);
    std::vector<double> k(R);
    for (int64_t r = 0; r < R; ++r) {
      sample[r] = (r0 + r) / points;
      const int64_t i = (r0 + r) % points;
      k[r] = static_cast<double>((i * D + n - 1) / n);  // k_i = ⌈i·D/n⌉ in integers
    }
    // removed (R, E): [k_r − rank > 0], exact in float64 (integers below 2^53).
    const Tensor removed = ops::unary(
        ops::Unary::Step, ops::sub(host_rows(k, R, 1, device), ops::gather_rows(ranks, sample_ids(sample, device))));
    const Tensor xr = gather_samples(x, sample);
    // b as a full (R, E) operand: where() then reads every operand in place (a broadcast one goes through an
    // index table of R·E entries).
    const Tensor b = ops::full(xr.shape(), settings.baseline, model.dtype(), device);
    // Deletion starts from x_n and writes b; insertion starts from all b and writes x_n back. An exact select.
    Shape shape = row_shape;
    shape[0] = R;
    return (deletion ? ops::where(removed, b, xr) : ops::where(removed, xr, b)).reshape(shape);
  };
  return Tensor::from_vector({N, points}, score_rows(model, N * points, settings.score, make_rows,
                                                     [&](int64_t r) { return targets[r / points]; }));
}

Tensor gather_samples(const Tensor& x, const std::vector<int64_t>& ids) {
  const int64_t N = x.dim(0);
  return ops::gather_rows(x.reshape({N, x.numel() / std::max<int64_t>(N, 1)}), sample_ids(ids, x.device()));
}

Tensor host_rows(const std::vector<double>& values, int64_t R, int64_t E, Device device) {
  return Tensor::from_vector({R, E}, values).to(device);
}

std::vector<double> score_rows(const Model& model, int64_t rows, ScoreKind score, const RowMaker& make_rows,
                               const std::function<int64_t(int64_t r)>& target_of) {
  // Rows per model call: see copies_per_call in explain/copies.cpp (a fixed exported batch: that many).
  const int64_t chunk = model.exported_batch > 0 ? model.exported_batch : 32;
  std::vector<double> out(rows);
  // The chunks go through the model side by side (tasks.h): each is the call the sequential loop made.
  run_tasks((rows + chunk - 1) / chunk, [&](int64_t c) {
    const int64_t r0 = c * chunk, R = std::min(chunk, rows - r0);
    std::vector<int64_t> targets(R);
    for (int64_t r = 0; r < R; ++r) targets[r] = target_of(r0 + r);
    const Tape tape = model.forward({make_rows(r0, R).to(model.dtype())});
    const std::vector<double> sc = target_scores(tape_logits(model, tape), targets, score);
    std::copy(sc.begin(), sc.end(), out.begin() + r0);
  });
  return out;
}

}  // namespace xdnn::explain
