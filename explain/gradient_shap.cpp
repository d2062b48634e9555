// GradientSHAP (Lundberg & Lee 2017, §4.2; the stochastic variant of Captum's GradientShap): for each
// sample, n = --samples draws of a baseline b uniformly from the set --baselines, a point α ~ U[0, 1) on
// the path and (with --stdevs σ > 0) Gaussian input noise ε ~ N(0, σ²):
//   x̃ = x + ε,   A(x) = (1/n) Σ_draws (x̃ − b) ⊙ ∇s(b + α (x̃ − b)).
// Its expectation is expected gradients (integrated gradients averaged over baselines, with noise); with
// one baseline and σ = 0 it is a Monte-Carlo estimate of integrated gradients. Random numbers: SplitMix64
// from --seed, per sample in order, per draw: the baseline index ⌊u·J⌋, then α, then the noise of every
// element (Box–Muller, two uniforms per element); the draws go through the model in chunks. Sample n of
// a chunk (ExplainRequest::first_sample) starts where sample first_sample + n of the whole batch would.
#include <algorithm>
#include <cmath>

#include "engine/ops.h"
#include "explain/perturbation.h"
#include "explain/point.h"
#include "explain/targets.h"

namespace xdnn::explain {
namespace {

Attribution gradient_shap(const ExplainRequest& req) {
  check_request(req);
  if (!req.input.is_float())
    throw Error("gradient-shap: expected a float input, got " + req.input.describe(),
                "for token models use integrated-gradients (embedding-output baseline)");
  const Model& model = *req.model;
  const Tensor x = model_input(req);
  const ScoreKind score = parse_score(req.options.get("score", "logit"));
  const int64_t n = req.options.get_int("samples", 5);
  if (n < 1 || n > 1'000'000) throw Error("--samples " + std::to_string(n) + ": expected 1..1000000 draws");
  const double sigma = req.options.get_double("stdevs", 0.0);
  if (!(sigma >= 0) || !std::isfinite(sigma))
    throw Error("--stdevs " + req.options.get("stdevs", "") + ": expected a standard deviation >= 0");
  const uint64_t seed = parse_seed(req.options);
  const Tensor B = baseline_set(req.options, x, "gradient-shap");
  const int64_t N = x.dim(0), D = x.numel() / N, J = B.dim(0);
  const Tensor x64 = x.to(DType::F64), B64 = B.to(DType::F64).to(x.device());
  // Draw d of sample s is row r = s·n + d: the baseline index, α and the noise are drawn on the host in
  // the order of the reference (serial: the same numbers for any chunking), the rows built by ops on x's
  // device: x̃ − b = x_s + noise − b_j and the path point b_j + α (x̃ − b_j).
  SplitMix64 rng(seed);
  rng.skip(static_cast<uint64_t>(req.first_sample) * static_cast<uint64_t>(n) *
           static_cast<uint64_t>(2 + (sigma > 0 ? 2 * D : 0)));  // the draws of the samples before this chunk
  const double two_pi = 6.283185307179586;
  Tensor sum(x.shape(), DType::F64, x.device());
  const int64_t total = N * n, per_call = req.model->exported_batch > 0 ? req.model->exported_batch
                                                                        : kRowsPerCall;  // Model::exported_batch
  for (int64_t r0 = 0; r0 < total; r0 += per_call) {
    const int64_t k = std::min(per_call, total - r0);
    std::vector<int64_t> targets(k), rows(k), bases(k);
    std::vector<double> alphas(k), noise(sigma > 0 ? k * D : 0);
    for (int64_t i = 0; i < k; ++i) {
      rows[i] = (r0 + i) / n;
      targets[i] = req.targets[rows[i]];
      bases[i] = std::min<int64_t>(static_cast<int64_t>(rng.uniform() * static_cast<double>(J)), J - 1);
      alphas[i] = rng.uniform();
      if (sigma > 0)
        for (int64_t e = 0; e < D; ++e) {
          const double u1 = rng.uniform(), u2 = rng.uniform();
          noise[i * D + e] = sigma * std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(two_pi * u2);
        }
    }
    Shape shape = x.shape(), alpha_shape(x.ndim(), 1);
    shape[0] = alpha_shape[0] = k;
    const Tensor row_ids = target_tensor(rows, x.device());
    Tensor xs = ops::gather_axis(x64, row_ids, 0);  // (k, ...)
    if (sigma > 0) xs = ops::add(xs, Tensor::from_vector(shape, noise).to(x.device()));
    const Tensor bj = ops::gather_axis(B64, target_tensor(bases, x.device()), 0);
    const Tensor diff = ops::sub(xs, bj);
    const Tensor alpha = Tensor::from_vector(alpha_shape, alphas).to(x.device());
    const Tensor pts = ops::add(bj, ops::mul(alpha, diff));
    const Tape tape = model.forward({pts.to(x.dtype())});
    const Tensor g = score_gradient(model, tape, model.inputs()[0], targets, score).to(DType::F64);
    // Σ over each sample's draws in row order (a sample whose draws straddle two chunks adds its two
    // partial sums, so its last bits may differ from one running sum).
    ops::add_inplace(sum, ops::gather_axis_backward(ops::mul(diff, g), row_ids, 0, x.shape()));
  }
  const Tensor out = ops::div(sum, Tensor::full({1}, static_cast<double>(n), DType::F64).to(x.device()));
  Attribution a{out.to(model.dtype()), "gradient-shap", req.options.values, seed};
  a.parameters["baselines"] = std::to_string(J);
  return a;
}

MethodRegistration reg{{"gradient-shap",
                        "GradientSHAP (Captum's variant): gradients at random points between the input (plus noise) "
                        "and random baselines, times the difference",
                        {{"baselines", "", "float32 .npy (J, ...) of baseline samples (default: one all-zero baseline)",
                          "FILE", any_value_names_file},
                         {"samples", "5", "number of random draws per sample"},
                         {"stdevs", "0", "standard deviation of the Gaussian input noise", "FLOAT"},
                         kOptSeed,
                         kOptScore},
                        gradient_shap}};

}  // namespace
}  // namespace xdnn::explain
