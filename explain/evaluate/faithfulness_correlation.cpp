// Faithfulness correlation (Bhatt et al. 2020, "Evaluating and Aggregating Feature-based Model
// Explanations", eq. 3):
//   μ_F(f, g; x) = corr_{S ⊂ {1..D}, |S| = m} ( Σ_{i∈S} g(x)_i ,  f(x) − f(x_[x_S = b]) )
// the Pearson correlation, over `--samples` random feature subsets S of size m (`--subset-size`), between
// the attribution mass of S and the drop of the score when S is set to the baseline b. Near 1: the
// attribution predicts what removing features does.
// Subsets: drawn once (the same subsets for every sample, so results do not depend on the batch) by a
// partial Fisher–Yates shuffle with the project's seeded Rng (engine/random.h); features as in curve.h
// (per-pixel attributions cover every channel). When either side is constant over the subsets (e.g. an
// all-zero attribution) the correlation is undefined and reported as 0.
// Output: the correlations (N,); summary: the same.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/check.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/random.h"
#include "explain/evaluate/curve.h"
#include "explain/evaluate/sanity.h"

namespace xdnn::explain {

namespace {

MetricResult faithfulness_correlation(const MetricRequest& req) {
  const std::string score_text = req.options.get("score", "");
  check(!score_text.empty(), "--score is required: logit, prob or log-prob");
  const ScoreKind score = parse_score(score_text);
  const int64_t runs = req.options.get_int("samples", 100), m = req.options.get_int("subset-size", 224);
  const uint64_t seed = static_cast<uint64_t>(req.options.get_int("seed", 0));
  const double b = req.options.get_double("baseline", 0.0);
  check(runs >= 2, "--samples " + std::to_string(runs) + ": expected at least 2 subsets");
  check(std::isfinite(b), "--baseline: expected a finite number");
  const FeatureLayout L = feature_layout(req.input, req.attribution);
  const int64_t N = L.samples, D = L.features, E = L.elements;
  if (m < 1 || m > D)
    throw Error("--subset-size " + std::to_string(m) + ": expected 1.." + std::to_string(D) + " (features per sample)");

  std::vector<std::vector<int64_t>> subsets(runs);
  Rng rng(seed);
  std::vector<int64_t> perm(D);
  for (auto& S : subsets) {
    for (int64_t i = 0; i < D; ++i) perm[i] = i;
    for (int64_t j = 0; j < m; ++j) std::swap(perm[j], perm[j + static_cast<int64_t>(rng.uniform() * (D - j))]);
    S.assign(perm.begin(), perm.begin() + m);
  }
  const Device device = req.input.device();
  const Tensor x = req.input.to(req.scoring_model().dtype());
  // Row r = n·(runs + 1) + j: j = 0 the unperturbed sample, j ≥ 1 subset j − 1 removed. The subsets' masks
  // (runs + 1, E) float64 (row 0 all zero; where() reads its condition as float64) go to the device once; a chunk's
  // rows are x_n where its mask row is 0 and b where it is 1 (an exact select).
  const int64_t per = runs + 1;
  std::vector<double> mask(per * E, 0.0);
  for (int64_t j = 1; j < per; ++j)
    for (int64_t f : subsets[j - 1])
      for (int64_t c = 0; c < L.channels; ++c) mask[j * E + feature_element(L, f, c)] = 1.0;
  const Tensor masks = host_rows(mask, per, E, device);
  auto make_rows = [&](int64_t r0, int64_t R) {
    std::vector<int64_t> sample(R), subset(R);
    for (int64_t r = 0; r < R; ++r) sample[r] = (r0 + r) / per, subset[r] = (r0 + r) % per;
    Shape shape = x.shape();
    shape[0] = R;
    const Tensor xr = gather_samples(x, sample);  // b as a full operand: where() reads it in place
    return ops::where(gather_samples(masks, subset), ops::full(xr.shape(), b, x.dtype(), device), xr).reshape(shape);
  };
  auto compute = [&] {
    return score_rows(req.scoring_model(), N * per, score, make_rows,
                      [&](int64_t r) { return req.targets.at(r / per); });
  };
  // The rows depend on the subsets, never on the attribution: every attribution of a table shares them.
  char key[160];
  std::snprintf(key, sizeof key, "faithfulness-correlation %s %lld %lld %llu %a %lld %lld %lld", score_text.c_str(),
                static_cast<long long>(runs), static_cast<long long>(m), static_cast<unsigned long long>(seed), b,
                static_cast<long long>(N), static_cast<long long>(D), static_cast<long long>(L.channels));
  const std::vector<double> s = req.row_scores ? req.row_scores->get(key, compute) : compute();
  MetricResult out;
  const std::vector<double> a = ops::value_vector(req.attribution);  // the masses: host sums of a copy
  for (int64_t n = 0; n < N; ++n) {
    std::vector<double> mass(runs), drop(runs);
    for (int64_t j = 0; j < runs; ++j) {
      for (int64_t f : subsets[j]) mass[j] += a[n * D + f];
      drop[j] = s[n * per] - s[n * per + j + 1];
    }
    out.summary.push_back(pearson_correlation(mass, drop));
  }
  out.values = Tensor::from_vector({N}, out.summary);
  out.summary_name = "correlation";
  return out;
}

MetricRegistration reg{{"faithfulness-correlation",
                        "Pearson correlation of subset attribution mass and score drop (Bhatt et al. 2020; higher "
                        "is better)",
                        {required_option({"score", "", "the explained scalar: logit, prob or log-prob (required)",
                                          "{logit,prob,log-prob}"}),
                         {"samples", "100", "number of random feature subsets"},
                         {"subset-size", "224", "features per subset"},
                         {"seed", "0", "seed of the subset sampler"},
                         {"baseline", "0", "value a removed feature takes (a number)", "FLOAT"}},
                        faithfulness_correlation}};

}  // namespace
}  // namespace xdnn::explain
