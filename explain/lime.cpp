// LIME (Ribeiro, Singh & Guestrin 2016, eq. 1-2 and Algorithm 1), exactly as the golden README's §LIME
// fixes it. Interpretable samples Z (S, G) of 0/1 coalitions (1 = group kept): given by --coalitions
// Z.npy, or drawn with --samples S --seed s (the first row keeps everything; every other row removes
// k ∈ 1..G−1 groups, k uniform, the groups by a partial Fisher–Yates shuffle; SplitMix64). For sample n:
//   y_r = v_n(Z_r),  d_r = 1 − √(|Z_r| / G)  (cosine distance to 1; 1 for the empty row),
//   ω_r = exp(−d_r² / w²)  (w = --kernel-width),
//   (β₀, β) = argmin Σ_r ω_r (y_r − β₀ − Z_r·β)² + λ Σ_g β_g²     (--surrogate ridge, λ = --ridge)
// with an unpenalised intercept: z̄, ȳ the ω-weighted means, Z̃ = Z − 1 z̄ᵀ, and
// β = (Z̃ᵀΩZ̃ + λI)⁻¹ Z̃ᵀΩ(y − ȳ) (scikit-learn's Ridge(alpha=λ).fit(Z, y, sample_weight=ω)); solved as
// the least squares [√Ω Z̃; √λ I] β ≈ [√Ω (y − ȳ); 0]. --surrogate lasso minimises instead
// (1 / (2 Σω)) Σ_r ω_r (ỹ_r − Z̃_r·β)² + λ ‖β‖₁ (scikit-learn's Lasso with sample weights) by cyclic
// coordinate descent. Every element of group g gets β_g; the weighted R² of the fit per sample and the
// intercepts are in the Attribution's parameters ("r2", "intercept").
#include <cmath>

#include "engine/ops_fill.h"
#include "explain/linear_solve.h"
#include "explain/perturbation.h"

namespace xdnn::explain {
namespace {

// The coalitions of --coalitions PATH (the array the caller loaded), checked: (S, G) entries 0 or 1.
std::vector<uint8_t> given_coalitions(const Tensor& z, const std::string& path, int64_t G, int64_t* S) {
  if (!z.is_float() || z.ndim() != 2 || z.dim(1) != G)
    throw Error("--coalitions " + path + ": expected a float32 matrix (S, " + std::to_string(G) +
                ") with one column per feature group, got " + z.describe());
  if (z.dim(0) < 1) throw Error("--coalitions " + path + ": no rows");
  const std::vector<double> values = ops::value_vector(z);  // a small option array: checked on the host
  std::vector<uint8_t> out(z.numel());
  for (int64_t i = 0, i_end = z.numel(); i < i_end; ++i) {
    const double v = values[static_cast<size_t>(i)];
    if (v != 0.0 && v != 1.0)
      throw Error("--coalitions " + path + ": entry (" + std::to_string(i / G) + ", " + std::to_string(i % G) +
                  ") is " + std::to_string(v) + ", expected exactly 0 or 1");
    out[i] = static_cast<uint8_t>(v);
  }
  *S = z.dim(0);
  return out;
}

std::vector<uint8_t> sample_coalitions(int64_t G, int64_t S, uint64_t seed) {
  std::vector<uint8_t> Z(S * G, 1);
  SplitMix64 rng(seed);
  std::vector<int64_t> p(G);
  for (int64_t r = 1; r < S; ++r) {
    const int64_t k = G < 2 ? 1 : 1 + static_cast<int64_t>(rng.uniform() * static_cast<double>(G - 1));
    for (int64_t g = 0; g < G; ++g) p[g] = g;
    for (int64_t j = 0; j < k; ++j) {
      const int64_t t = j + static_cast<int64_t>(rng.uniform() * static_cast<double>(G - j));
      std::swap(p[j], p[t]);
      Z[r * G + p[j]] = 0;
    }
  }
  return Z;
}

// Lasso on centred, weighted data: min (1/(2W)) Σ_r ω_r (y_r − Σ_g Zc_rg β_g)² + λ ‖β‖₁, W = Σ ω.
std::vector<double> lasso(const std::vector<double>& Zc, const std::vector<double>& y, const std::vector<double>& w,
                          int64_t S, int64_t G, double lambda) {
  double W = 0;
  for (double v : w) W += v;
  std::vector<double> beta(G, 0.0), res(y), norm(G, 0.0);
  for (int64_t r = 0; r < S; ++r)
    for (int64_t g = 0; g < G; ++g) norm[g] += w[r] * Zc[r * G + g] * Zc[r * G + g] / W;
  for (int sweep = 0; sweep < 10000; ++sweep) {
    double max_step = 0, max_beta = 0;
    for (int64_t g = 0; g < G; ++g) {
      if (norm[g] == 0) continue;
      double rho = 0;
      for (int64_t r = 0; r < S; ++r) rho += w[r] * Zc[r * G + g] * (res[r] + Zc[r * G + g] * beta[g]);
      rho /= W;
      const double next = (rho > lambda ? rho - lambda : rho < -lambda ? rho + lambda : 0.0) / norm[g];
      const double step = next - beta[g];
      if (step != 0)
        for (int64_t r = 0; r < S; ++r) res[r] -= Zc[r * G + g] * step;
      beta[g] = next;
      max_step = std::max(max_step, std::abs(step));
      max_beta = std::max(max_beta, std::abs(next));
    }
    if (max_step <= 1e-12 * std::max(max_beta, 1e-300) || max_step == 0) break;
  }
  return beta;
}

std::vector<double> lime_groups(const ExplainRequest& req, const Perturber& p, const FeatureGroups& groups,
                                Attribution& out) {
  const int64_t N = p.samples(), G = groups.count;
  const double width = req.options.get_double("kernel-width", 0.25);
  if (!(width > 0) || !std::isfinite(width))
    throw Error("--kernel-width " + req.options.get("kernel-width", "") + ": expected a number > 0");
  const double lambda = req.options.get_double("ridge", 1.0);
  if (!(lambda >= 0) || !std::isfinite(lambda))
    throw Error("--ridge " + req.options.get("ridge", "") + ": expected a penalty >= 0");
  const std::string surrogate = req.options.get("surrogate", "ridge");
  if (surrogate != "ridge" && surrogate != "lasso")
    throw Error("--surrogate '" + surrogate + "': expected ridge or lasso");
  const std::string path = req.options.get("coalitions", "");
  const std::string samples_text = req.options.get("samples", "");
  if (!path.empty() && !samples_text.empty())
    throw Error("lime: --coalitions and --samples exclude each other", "give the coalitions or let lime draw them");
  int64_t S = 0;
  std::vector<uint8_t> Z;
  const uint64_t seed = parse_seed(req.options);
  if (!path.empty()) {
    Z = given_coalitions(req.options.array("coalitions"), path, G, &S);
  } else {
    S = req.options.get_int("samples", 1000);
    if (S < 1 || S > 10'000'000) throw Error("--samples " + samples_text + ": expected 1..10000000 coalitions");
    Z = sample_coalitions(G, S, seed);
  }
  std::vector<double> w(S), Zd(S * G);
  for (int64_t r = 0; r < S; ++r) {
    int64_t kept = 0;
    for (int64_t g = 0; g < G; ++g) kept += Z[r * G + g], Zd[r * G + g] = Z[r * G + g];
    const double d = kept == 0 ? 1.0 : 1.0 - std::sqrt(static_cast<double>(kept) / static_cast<double>(G));
    w[r] = std::exp(-d * d / (width * width));
  }
  double W = 0;
  for (double v : w) W += v;
  if (!(W > 0))
    throw Error("--kernel-width " + req.options.get("kernel-width", "") + ": every sample weight underflows to 0",
                "use a larger kernel width");
  std::vector<double> zbar(G, 0.0), Zc(S * G);
  for (int64_t r = 0; r < S; ++r)
    for (int64_t g = 0; g < G; ++g) zbar[g] += w[r] * Zd[r * G + g] / W;
  for (int64_t r = 0; r < S; ++r)
    for (int64_t g = 0; g < G; ++g) Zc[r * G + g] = Zd[r * G + g] - zbar[g];

  const std::vector<double> v = p.coalition_scores(Z, S, groups);
  std::vector<double> beta(N * G), ybar(N, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t r = 0; r < S; ++r) ybar[n] += w[r] * v[r * N + n] / W;
  if (surrogate == "ridge") {
    // [√Ω Z̃; √λ I] β ≈ [√Ω (y − ȳ); 0], all samples as right-hand sides.
    const int64_t rows = S + (lambda > 0 ? G : 0);
    std::vector<double> A(rows * G, 0.0), B(rows * N, 0.0);
    for (int64_t r = 0; r < S; ++r) {
      const double sw = std::sqrt(w[r]);
      for (int64_t g = 0; g < G; ++g) A[r * G + g] = sw * Zc[r * G + g];
      for (int64_t n = 0; n < N; ++n) B[r * N + n] = sw * (v[r * N + n] - ybar[n]);
    }
    if (lambda > 0)
      for (int64_t g = 0; g < G; ++g) A[(S + g) * G + g] = std::sqrt(lambda);
    const std::vector<double> X = least_squares_min_norm(A, rows, G, B, N);  // (G, N)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t g = 0; g < G; ++g) beta[n * G + g] = X[g * N + n];
  } else {
    for (int64_t n = 0; n < N; ++n) {
      std::vector<double> y(S);
      for (int64_t r = 0; r < S; ++r) y[r] = v[r * N + n] - ybar[n];
      const std::vector<double> b = lasso(Zc, y, w, S, G, lambda);
      std::copy(b.begin(), b.end(), beta.begin() + n * G);
    }
  }
  // Weighted R² (scikit-learn's score with sample weights; 1 for a perfect fit of a constant target).
  std::string r2_text, intercept_text;
  for (int64_t n = 0; n < N; ++n) {
    double ss_res = 0, ss_tot = 0, intercept = ybar[n];
    for (int64_t g = 0; g < G; ++g) intercept -= zbar[g] * beta[n * G + g];
    for (int64_t r = 0; r < S; ++r) {
      double pred = intercept;
      for (int64_t g = 0; g < G; ++g) pred += Zd[r * G + g] * beta[n * G + g];
      ss_res += w[r] * (v[r * N + n] - pred) * (v[r * N + n] - pred);
      ss_tot += w[r] * (v[r * N + n] - ybar[n]) * (v[r * N + n] - ybar[n]);
    }
    const double r2 = ss_tot > 0 ? 1.0 - ss_res / ss_tot : (ss_res == 0 ? 1.0 : 0.0);
    if (n > 0) r2_text += ',', intercept_text += ',';
    r2_text += std::to_string(r2);
    intercept_text += std::to_string(intercept);
  }
  out.seed = path.empty() ? seed : 0;
  out.parameters["r2"] = r2_text;
  out.parameters["intercept"] = intercept_text;
  out.parameters["coalitions"] = path.empty() ? std::to_string(S) + " sampled" : path;
  return beta;
}

Attribution lime(const ExplainRequest& req) { return group_attribution(req, "lime", lime_groups); }

MethodRegistration reg{
    {"lime",
     "LIME (Ribeiro et al. 2016): weighted ridge (or lasso) surrogate over coalitions of feature groups",
     {kOptFeatureMask,
      kOptGroupBaseline,
      kOptPadId,
      kOptScore,
      {"coalitions", "", "float32 (S, G) matrix of 0/1 coalitions (1 = group kept); default: sampled", "FILE",
       any_value_names_file},
      {"samples", "", "number of sampled coalitions when no --coalitions are given (default 1000)", "INT"},
      kOptSeed,
      {"kernel-width", "0.25", "width w of the kernel exp(-d^2/w^2) on the cosine distance", "FLOAT"},
      {"ridge", "1", "penalty lambda of the surrogate's coefficients (intercept unpenalised)", "FLOAT"},
      {"surrogate", "ridge", "ridge or lasso", "{ridge,lasso}"}},
     lime}};

}  // namespace
}  // namespace xdnn::explain
