// Expected gradients (Erion et al. 2021, eq. 4) in the deterministic-quadrature form of the golden
// README's §Expected gradients: integrated gradients (Sundararajan et al. 2017) from each of J fixed
// baselines b_j, with the score s of --score, averaged:
//   IG_b(x) = (x − b) ⊙ Σ_{i=1..n} w_i ∇s(b + α_i (x − b)),     EG(x) = (1/J) Σ_j IG_{b_j}(x),
// nodes α_i and weights w_i of --integration / --steps (integrated_gradients.h). Completeness holds
// approximately: Σ EG ≈ s(x) − (1/J) Σ_j s(b_j). The J·n path points of the batch go through the model
// stacked along the batch axis in chunks (copy c = j·n + i holds rows [c·N, (c+1)·N)); the sum runs in
// float64 in the order (j, i) whatever the chunking.
#include "engine/dispatch.h"
#include "explain/copies.h"
#include "explain/integrated_gradients.h"
#include "explain/perturbation.h"
#include "explain/point.h"
#include "explain/targets.h"

namespace xdnn::explain {
namespace {

Attribution expected_gradients(const ExplainRequest& req) {
  check_request(req);
  if (!req.input.is_float())
    throw Error("expected-gradients: expected a float input, got " + req.input.describe(),
                "for token models use integrated-gradients (embedding-output baseline)");
  const Model& model = *req.model;
  const Tensor x = model_input(req);
  const ScoreKind score = parse_score(req.options.get("score", "logit"));
  const int64_t steps = req.options.get_int("steps", 50);
  if (steps < 1 || steps > 100000) throw Error("--steps: expected 1..100000, got " + std::to_string(steps));
  const Quadrature q = integration_rule(req.options.get("integration", "gauss-legendre"), static_cast<int>(steps));
  const Tensor B = baseline_set(req.options, x, "expected-gradients");
  const int64_t N = x.dim(0), D = x.numel() / N, J = B.dim(0), n = static_cast<int64_t>(q.alphas.size());
  const int64_t total = J * n, per_call = req.model->exported_batch > 0 ? 1 : std::max<int64_t>(1, kRowsPerCall / N);
  const Tensor x64 = x.to(DType::F64), B64 = B.to(DType::F64);
  const double* px = x64.data<double>();
  const double* pb = B64.data<double>();
  std::vector<double> sum(N * D, 0.0);
  Shape shape = x.shape();
  for (int64_t c0 = 0; c0 < total; c0 += per_call) {
    const int64_t k = std::min(per_call, total - c0);
    shape[0] = k * N;
    Tensor pts(shape, DType::F64);
    double* pp = pts.data<double>();
    for (int64_t c = 0; c < k; ++c) {
      const int64_t j = (c0 + c) / n, i = (c0 + c) % n;
      const double a = q.alphas[i];
      for (int64_t s = 0; s < N; ++s)
        for (int64_t e = 0; e < D; ++e) {
          const double b = pb[j * D + e];
          pp[(c * N + s) * D + e] = b + a * (px[s * D + e] - b);
        }
    }
    const Tensor rows = pts.to(x.dtype());
    const Tape tape = model.forward({rows});
    const Tensor g =
        score_gradient(model, tape, model.inputs()[0], repeat_targets(req.targets, k), score).to(DType::F64);
    const double* pg = g.data<double>();
    for (int64_t c = 0; c < k; ++c) {
      const int64_t j = (c0 + c) / n, i = (c0 + c) % n;
      const double w = q.weights[i];
      for (int64_t s = 0; s < N; ++s)
        for (int64_t e = 0; e < D; ++e) sum[s * D + e] += w * (px[s * D + e] - pb[j * D + e]) * pg[(c * N + s) * D + e];
    }
  }
  Tensor out(x.shape(), DType::F64);
  for (int64_t e = 0; e < N * D; ++e) out.set_item(e, sum[e] / static_cast<double>(J));
  Attribution a{out.to(model.dtype()), "expected-gradients", req.options.values, 0};
  a.parameters["baselines"] = std::to_string(J);
  return a;
}

MethodRegistration reg{{"expected-gradients",
                        "expected gradients (Erion et al. 2021): integrated gradients averaged over a baseline set",
                        {{"baselines", "", "float32 .npy (J, ...) of baseline samples (default: one all-zero baseline)",
                          "FILE", any_value_names_file},
                         {"steps", "50", "number of integration nodes per baseline"},
                         {"integration", "gauss-legendre", integration_rules().names(" | "), "NAME"},
                         kOptScore},
                        expected_gradients}};

}  // namespace
}  // namespace xdnn::explain
