// Infidelity (Yeh et al. 2019, "On the (In)fidelity and Sensitivity of Explanations", eq. 1):
//   INFD(Φ, f, x) = E_{I∼μ} [ ( Iᵀ Φ(x) − ( f(x) − f(x − I) ) )² ]
// with μ the "noisy baseline" perturbation of the paper: I ~ N(0, σ²) independently per input element
// (σ = --noise-std), estimated over --samples draws. Lower is better; 0 means the attribution predicts
// the effect of every perturbation exactly (for a linear model, Φ = gradient × 1 gives 0). No β
// rescaling of Φ (Captum's `infidelity` default, normalize=False). For a per-pixel attribution,
// Iᵀ Φ = Σ_pixels Φ_p Σ_c I_{c,p}.
// Draw j's noise comes from Rng(seed, j) and is the same for every sample (batch-independent results);
// it is regenerated where it is needed instead of stored, so memory stays bounded.
// Output: INFD per sample (N,); summary: the same.
#include <cmath>

#include "engine/check.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/random.h"
#include "explain/evaluate/curve.h"

namespace xdnn::explain {

namespace {

// The noise of draw j, one sample's worth (E elements): N(0, σ²).
void noise(uint64_t seed, int64_t j, double sigma, double* out, int64_t E) {
  Rng rng(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(j) + 1);
  for (int64_t e = 0; e < E; ++e) out[e] = sigma * rng.normal();
}

MetricResult infidelity(const MetricRequest& req) {
  const std::string score_text = req.options.get("score", "");
  check(!score_text.empty(), "--score is required: logit, prob or log-prob");
  const ScoreKind score = parse_score(score_text);
  const int64_t runs = req.options.get_int("samples", 100);
  const double sigma = req.options.get_double("noise-std", 0.1);
  const uint64_t seed = static_cast<uint64_t>(req.options.get_int("seed", 0));
  check(runs >= 1, "--samples " + std::to_string(runs) + ": expected at least 1");
  if (!(sigma > 0.0) || !std::isfinite(sigma)) throw Error("--noise-std: expected a positive number");
  const FeatureLayout L = feature_layout(req.input, req.attribution);
  const int64_t N = L.samples, D = L.features, E = L.elements;
  const Model& model = req.scoring_model();
  const Tensor x = req.input.to(DType::F64);  // x_n − I in float64, rounded to the model's dtype once
  const int64_t per = runs + 1;               // row n·per: x_n; row n·per + j + 1: x_n − I_j
  // The noise of a chunk's rows (R, E) is drawn on the host (serial, seeded) and subtracted on the device.
  auto make_rows = [&](int64_t r0, int64_t R) {
    std::vector<int64_t> sample(R);
    std::vector<double> I(R * E, 0.0);
    for (int64_t r = 0; r < R; ++r) {
      sample[r] = (r0 + r) / per;
      const int64_t j = (r0 + r) % per;
      if (j > 0) noise(seed, j - 1, sigma, I.data() + r * E, E);
    }
    Shape shape = x.shape();
    shape[0] = R;
    return ops::sub(gather_samples(x, sample), host_rows(I, R, E, x.device())).reshape(shape).to(model.dtype());
  };
  const std::vector<double> s =
      score_rows(model, N * per, score, make_rows, [&](int64_t r) { return req.targets.at(r / per); });
  const std::vector<double> a = ops::value_vector(req.attribution);  // Iᵀ Φ: host sums of a copy
  std::vector<double> I(E);
  std::vector<double> sum(N, 0.0);
  for (int64_t j = 0; j < runs; ++j) {
    noise(seed, j, sigma, I.data(), E);
    for (int64_t n = 0; n < N; ++n) {
      const double* an = a.data() + n * D;
      double dot = 0.0;  // Iᵀ Φ
      for (int64_t f = 0; f < D; ++f)
        for (int64_t c = 0; c < L.channels; ++c) dot += I[feature_element(L, f, c)] * an[f];
      const double d = dot - (s[n * per] - s[n * per + j + 1]);
      sum[n] += d * d;
    }
  }
  MetricResult out;
  for (int64_t n = 0; n < N; ++n) out.summary.push_back(sum[n] / static_cast<double>(runs));
  out.values = Tensor::from_vector({N}, out.summary);
  out.summary_name = "infidelity";
  return out;
}

MetricRegistration reg{{"infidelity",
                        "expected squared error of the attribution's prediction of Gaussian perturbations (Yeh "
                        "et al. 2019; lower is better)",
                        {required_option({"score", "", "the explained scalar: logit, prob or log-prob (required)",
                                          "{logit,prob,log-prob}"}),
                         {"samples", "100", "number of perturbations"},
                         {"noise-std", "0.1", "standard deviation of the Gaussian perturbation", "FLOAT"},
                         {"seed", "0", "seed of the perturbations"}},
                        infidelity}};

}  // namespace
}  // namespace xdnn::explain
