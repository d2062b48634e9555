// Max-sensitivity (Yeh et al. 2019, "On the (In)fidelity and Sensitivity of Explanations", eq. 2):
//   SENS_MAX(Φ, f, x, r) = max_{‖y − x‖_∞ ≤ r} ‖ Φ(f, y) − Φ(f, x) ‖₂
// estimated as Captum's `sensitivity_max` does: the maximum over --samples points y = x + u, u uniform
// in [−r, r] per input element (r = --radius), of the Frobenius norm of the change of the attribution,
// explaining the same target class. Lower is better (a stable explanation). It re-runs the explanation
// method, so it needs `--methods`, not an attribution file.
// Draw j's noise comes from Rng(seed, j) and is the same for every sample (batch-independent results).
// Output: SENS_MAX per sample (N,); summary: the same.
#include <cmath>

#include "engine/check.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/random.h"
#include "explain/evaluate/curve.h"
#include "explain/evaluate/tasks.h"

namespace xdnn::explain {

std::vector<double> max_sensitivity_noise(uint64_t seed, int64_t j, double radius, int64_t E) {
  Rng rng(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(j) + 1);
  std::vector<double> u(E);
  for (auto& v : u) v = rng.uniform(-radius, radius);
  return u;
}

std::vector<double> row_distances(const std::vector<double>& p, const std::vector<double>& q, int64_t N) {
  const int64_t A = static_cast<int64_t>(p.size()) / N;
  std::vector<double> out(N);
  for (int64_t n = 0; n < N; ++n) {
    double sq = 0.0;
    for (int64_t i = 0; i < A; ++i) {
      const double d = p[n * A + i] - q[n * A + i];
      sq += d * d;
    }
    out[n] = std::sqrt(sq);
  }
  return out;
}

namespace {

MetricResult max_sensitivity(const MetricRequest& req) {
  if (!req.explain)
    throw Error("max-sensitivity re-runs the explanation method on perturbed inputs",
                "name the method with --methods instead of giving an --attribution file");
  const int64_t runs = req.options.get_int("samples", 10);
  const double radius = req.options.get_double("radius", 0.02);
  const uint64_t seed = static_cast<uint64_t>(req.options.get_int("seed", 0));
  check(runs >= 1, "--samples " + std::to_string(runs) + ": expected at least 1");
  if (!(radius > 0.0) || !std::isfinite(radius)) throw Error("--radius: expected a positive number");
  const FeatureLayout L = feature_layout(req.input, req.attribution);
  const int64_t N = L.samples, E = L.elements;
  const Tensor x = req.input.to(DType::F64).reshape({N, E});  // y = x + u in float64, then the input's dtype
  const std::vector<double> a = ops::value_vector(req.attribution);
  // ‖Φ(y_j) − Φ(x)‖ of draw j for every sample; the draws run side by side (tasks.h), then the maximum
  // is taken over them in draw order. u is drawn on the host (seeded) and added on the device.
  std::vector<std::vector<double>> norms(runs, std::vector<double>(N, 0.0));
  run_tasks(runs, [&](int64_t j) {
    const std::vector<double> u = max_sensitivity_noise(seed, j, radius, E);
    const Tensor y = ops::add(x, host_rows(u, 1, E, x.device())).reshape(req.input.shape());
    const Tensor phi_t = req.explain(*req.model, y.to(req.input.dtype()), req.targets);
    if (phi_t.shape() != req.attribution.shape())
      throw Error("max-sensitivity: the method returned " + shape_str(phi_t.shape()) + " for a perturbed input, " +
                  shape_str(req.attribution.shape()) + " for the original");
    norms[j] = row_distances(ops::value_vector(phi_t), a, N);  // host sums of copies
  });
  std::vector<double> worst(N, 0.0);
  for (int64_t j = 0; j < runs; ++j)
    for (int64_t n = 0; n < N; ++n) worst[n] = std::max(worst[n], norms[j][n]);
  MetricResult out;
  out.values = Tensor::from_vector({N}, worst);
  out.summary = worst;
  out.summary_name = "max-sensitivity";
  return out;
}

MetricRegistration reg{{"max-sensitivity",
                        "largest change of the attribution within an L-inf ball around the input (Yeh et al. "
                        "2019; lower is better)",
                        {{"samples", "10", "number of perturbed inputs"},
                         {"radius", "0.02", "radius r of the L-inf ball (uniform noise in [-r, r])", "FLOAT"},
                         {"seed", "0", "seed of the perturbations"}},
                        max_sensitivity}};

}  // namespace
}  // namespace xdnn::explain
