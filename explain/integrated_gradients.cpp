// Integrated gradients; see integrated_gradients.h for the formula and the quadrature rules.
//
// Speed: the n interpolated copies of the batch go through the model in chunks, stacked along the batch
// axis (copy j of the chunk holds rows [j·N, (j+1)·N)), so one forward and one backward pass handle many
// α at once. Token models interpolate the embedding output e between x̄ = 0 (or --baseline) and e, and feed
// it through the rest of the network with Model::forward's replace map.
#include "explain/integrated_gradients.h"

#include <cmath>
#include <utility>

#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "explain/baseline.h"
#include "explain/copies.h"
#include "explain/point.h"

namespace xdnn::explain {

namespace {

// {P_n(t), P_{n−1}(t)} by the three-term recurrence P_0 = 1, P_1 = t, (k+1) P_{k+1} = (2k+1) t P_k − k P_{k−1}.
std::pair<double, double> legendre(int n, double t) {
  double p0 = 1.0, p1 = t;
  for (int k = 1; k < n; ++k) {
    double p2 = ((2.0 * k + 1.0) * t * p1 - k * p0) / (k + 1.0);
    p0 = p1;
    p1 = p2;
  }
  return {p1, p0};
}

}  // namespace

Quadrature gauss_legendre(int n) {
  if (n < 1) throw Error("gauss-legendre: --steps must be at least 1, got " + std::to_string(n));
  Quadrature q;
  q.alphas.resize(n);
  q.weights.resize(n);
  const double pi = 3.14159265358979323846;
  for (int i = 1; i <= n; ++i) {
    double t = std::cos(pi * (i - 0.25) / (n + 0.5));  // near the i-th largest root
    for (int iter = 0; iter < 100; ++iter) {
      const auto [pn, pn1] = legendre(n, t);
      // P_n'(t) = n (t P_n − P_{n−1}) / (t² − 1)
      const double dp = n * (t * pn - pn1) / (t * t - 1.0);
      const double step = pn / dp;
      t -= step;
      if (std::abs(step) < 1e-16) break;
    }
    // The derivative at the converged root, for the weight.
    const auto [pn, pn1] = legendre(n, t);
    const double dp = n * (t * pn - pn1) / (t * t - 1.0);
    // Roots come out in decreasing order; store increasing.
    q.alphas[n - i] = t;
    q.weights[n - i] = 2.0 / ((1.0 - t * t) * dp * dp);
  }
  return q;
}

namespace {

// Gauss–Legendre mapped from [−1, 1] to [0, 1]: α = (1 + t)/2, w = v/2.
Quadrature gauss_legendre_01(int n) {
  Quadrature g = gauss_legendre(n), q;
  for (int i = 0; i < n; ++i) {
    q.alphas.push_back((1.0 + g.alphas[i]) / 2.0);
    q.weights.push_back(g.weights[i] / 2.0);
  }
  return q;
}

// n equal cells of width 1/n, each evaluated at `at` (0 left end, 1 right end, 0.5 middle).
Quadrature riemann(int n, double at) {
  Quadrature q;
  for (int i = 1; i <= n; ++i) {
    q.alphas.push_back((i - 1 + at) / n);
    q.weights.push_back(1.0 / n);
  }
  return q;
}

Quadrature riemann_trapezoid(int n) {
  Quadrature q;
  const double dn = n;
  for (int i = 1; i <= n; ++i) {
    q.alphas.push_back((i - 1) / (dn - 1.0));
    q.weights.push_back(i == 1 || i == n ? 1.0 / (2.0 * dn) : 1.0 / dn);
  }
  return q;
}

}  // namespace

ChoiceRegistry<IntegrationRuleInfo>& integration_rules() {
  static ChoiceRegistry<IntegrationRuleInfo> registry(
      "integration rule",
      {
          {"gauss-legendre", "Gauss-Legendre nodes and weights (exact for polynomials of degree 2n-1)", 1,
           gauss_legendre_01},
          {"riemann-left", "left Riemann sum", 2, [](int n) { return riemann(n, 0.0); }},
          {"riemann-right", "right Riemann sum", 2, [](int n) { return riemann(n, 1.0); }},
          {"riemann-middle", "midpoint Riemann sum", 2, [](int n) { return riemann(n, 0.5); }},
          {"riemann-trapezoid", "trapezoid rule as in Captum (weights sum to (n-1)/n)", 2, riemann_trapezoid},
      });
  return registry;
}

Quadrature integration_rule(const std::string& name, int n) {
  const IntegrationRuleInfo& rule = integration_rules().find(name);
  if (n < rule.min_steps)
    throw Error("--integration " + name + " needs --steps >= " + std::to_string(rule.min_steps) + ", got " +
                std::to_string(n));
  return rule.nodes(n);
}

namespace {

// Entries [i0, i0 + k) of a quadrature's nodes or weights.
std::vector<double> node_slice(const std::vector<double>& v, int64_t i0, int64_t k) {
  return std::vector<double>(v.begin() + i0, v.begin() + i0 + k);
}

// The node the attribution point feeds, when that is its only use and the node is affine
// (LinearLike: z = W ⋆ x + b) with one input and one output; else nullptr.
struct FirstAffine {
  const LinearLike* layer = nullptr;
  int output = -1;  // value id of z
};

FirstAffine first_affine(const Model& model, const Point& point) {
  if (point.tokens) return {};
  int consumer = -1, uses = 0;
  for (int k = 0; k < static_cast<int>(model.nodes().size()); ++k)
    for (int in : model.nodes()[k].inputs)
      if (in == point.value_id) consumer = k, ++uses;
  if (uses != 1) return {};
  const Node& node = model.nodes()[consumer];
  const LinearLike* lin = node.layer->as_linear();
  if (!lin || node.inputs.size() != 1 || node.outputs.size() != 1 || node.outputs[0] < 0) return {};
  return {lin, node.outputs[0]};
}

Attribution integrated_gradients(const ExplainRequest& req) {
  const Model& model = *req.model;
  const Tensor x = model_input(req);
  const Point point = attribution_point(model, x);
  const int64_t steps = req.options.get_int("steps", 50);
  if (steps < 1 || steps > 100000) throw Error("--steps: expected 1..100000, got " + std::to_string(steps));
  const std::string rule = req.options.get("integration", "gauss-legendre");
  const Quadrature q = integration_rule(rule, static_cast<int>(steps));

  // The point value at x: the input itself for float inputs (no forward pass needed), else the
  // embedding output.
  const Tensor e = point.tokens ? model.forward({x}).values.at(point.value_id) : x;
  const Tensor base = baseline_for(req.options, e);
  const Tensor delta = ops::sub(e, base);
  const int64_t N = e.dim(0), n = static_cast<int64_t>(q.alphas.size());
  const int64_t per_call = copies_per_call(model, e, n);

  // Σ_i w_i ∇f(x̄ + α_i Δ), accumulated in double in the order i = 1..n.
  // When the point feeds one affine layer z = W ⋆ x + b only, ∇_x f = Wᵀ ⋆ ∇_z f is linear in ∇_z f, so
  //   Σ_i w_i ∇_x f(x_i) = Wᵀ ⋆ Σ_i w_i ∇_z f(x_i):
  // the sum is taken at z and that layer's input gradient (for a convolution: a GEMM and a col2im) runs
  // once per sample instead of once per node and sample.
  const FirstAffine affine = first_affine(model, point);
  const int grad_id = affine.layer ? affine.output : point.value_id;
  Tensor sum;  // (N, ...) of the value at grad_id, float64
  for (int64_t i0 = 0; i0 < n; i0 += per_call) {
    const int64_t k = std::min(per_call, n - i0);
    // (k·N, ...): copy j holds rows [j·N, (j+1)·N) = x̄ + α_{i0+j} Δ
    const Tensor pts = ops::interpolate_rows(base, delta, node_slice(q.alphas, i0, k));
    const Tensor ids = point.tokens ? repeat_rows(x, k) : pts;
    Tape tape = forward_at(model, point, ids, pts);
    const Tensor g = target_gradient(model, tape, grad_id, repeat_targets(req.targets, k));
    if (!sum.defined()) {
      Shape s = g.shape();
      s[0] = N;
      sum = Tensor(s, DType::F64, g.device());
    }
    ops::accumulate_weighted_rows(sum, g, node_slice(q.weights, i0, k));
  }
  if (affine.layer) sum = affine.layer->linear_backward_input(sum.to(e.dtype()), affine.layer->weight(), e.shape());
  Tensor attr = ops::mul(delta.to(DType::F64), sum.to(DType::F64)).to(e.dtype());
  Attribution out{finish_attribution(point, attr), "integrated-gradients", req.options.values, 0};
  return out;
}

MethodRegistration reg{{"integrated-gradients",
                        "path integral of gradients from a baseline (Sundararajan et al. 2017)",
                        {{"steps", "50", "number of integration nodes"},
                         {"integration", "gauss-legendre", integration_rules().names(" | "), "NAME"},
                         baseline_option("0", "baseline: a number (constant) or a .npy file of the input's shape")},
                        integrated_gradients}};

}  // namespace
}  // namespace xdnn::explain
