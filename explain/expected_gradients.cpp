// Expected gradients (Erion et al. 2021, eq. 4) in the deterministic-quadrature form of the golden
// README's §Expected gradients: integrated gradients (Sundararajan et al. 2017) from each of J fixed
// baselines b_j, with the score s of --score, averaged:
//   IG_b(x) = (x − b) ⊙ Σ_{i=1..n} w_i ∇s(b + α_i (x − b)),     EG(x) = (1/J) Σ_j IG_{b_j}(x),
// nodes α_i and weights w_i of --integration / --steps (integrated_gradients.h). Completeness holds
// approximately: Σ EG ≈ s(x) − (1/J) Σ_j s(b_j). The J·n path points of the batch go through the model
// stacked along the batch axis in chunks (copy c = j·n + i holds rows [c·N, (c+1)·N)); the sum runs in
// float64 in the order (j, i) whatever the chunking.
#include "engine/ops.h"
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
  const int64_t N = x.dim(0), J = B.dim(0), n = static_cast<int64_t>(q.alphas.size());
  const int64_t total = J * n, per_call = req.model->exported_batch > 0 ? 1 : std::max<int64_t>(1, kRowsPerCall / N);
  // Everything in float64 on x's device, copy c = (baseline j, node i) at a time, in the order of the
  // former host loops (the same bits): rows b_j + α_i (x − b_j), sum += (w_i (x − b_j)) ⊙ g.
  const Tensor x64 = x.to(DType::F64), B64 = B.to(DType::F64).to(x.device());
  Shape row_shape = x.shape();
  row_shape[0] = 1;
  Tensor sum(x.shape(), DType::F64, x.device());
  for (int64_t c0 = 0; c0 < total; c0 += per_call) {
    const int64_t k = std::min(per_call, total - c0);
    std::vector<Tensor> copies, deltas;
    for (int64_t c = 0; c < k; ++c) {
      const int64_t j = (c0 + c) / n, i = (c0 + c) % n;
      const Tensor b = B64.slice_batch(j, j + 1).reshape(row_shape);  // broadcast over the N rows
      deltas.push_back(ops::sub(x64, b));
      copies.push_back(ops::add(b, ops::scale(deltas.back(), q.alphas[i])));
    }
    const Tensor rows = (k == 1 ? copies[0] : ops::concat_axis(copies, 0)).to(x.dtype());
    const Tape tape = model.forward({rows});
    const Tensor g =
        score_gradient(model, tape, model.inputs()[0], repeat_targets(req.targets, k), score).to(DType::F64);
    for (int64_t c = 0; c < k; ++c) {
      const double w = q.weights[(c0 + c) % n];
      ops::add_inplace(sum, ops::mul(ops::scale(deltas[c], w), g.slice_batch(c * N, (c + 1) * N)));
    }
  }
  const Tensor out = ops::div(sum, Tensor::full({1}, static_cast<double>(J), DType::F64).to(x.device()));
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
