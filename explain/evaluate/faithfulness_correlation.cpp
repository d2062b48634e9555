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
  const Tensor x = req.input.to(DType::F64), a = req.attribution.to(DType::F64);
  const Shape sample_shape(x.shape().begin() + 1, x.shape().end());
  // Row r = n·(runs + 1) + j: j = 0 the unperturbed sample, j ≥ 1 subset j − 1 removed.
  const int64_t per = runs + 1;
  auto fill = [&](int64_t r, double* row) {
    const int64_t n = r / per, j = r % per;
    const double* xs = x.data<double>() + n * E;
    std::copy(xs, xs + E, row);
    if (j == 0) return;
    for (int64_t f : subsets[j - 1])
      for (int64_t c = 0; c < L.channels; ++c) row[feature_element(L, f, c)] = b;
  };
  auto compute = [&] {
    return score_rows(req.scoring_model(), sample_shape, N * per, score, fill,
                      [&](int64_t r) { return req.targets.at(r / per); });
  };
  // The rows depend on the subsets, never on the attribution: every attribution of a table shares them.
  char key[160];
  std::snprintf(key, sizeof key, "faithfulness-correlation %s %lld %lld %llu %a %lld %lld %lld", score_text.c_str(),
                static_cast<long long>(runs), static_cast<long long>(m), static_cast<unsigned long long>(seed), b,
                static_cast<long long>(N), static_cast<long long>(D), static_cast<long long>(L.channels));
  const std::vector<double> s = req.row_scores ? req.row_scores->get(key, compute) : compute();
  MetricResult out;
  out.values = Tensor({N}, DType::F64);
  for (int64_t n = 0; n < N; ++n) {
    std::vector<double> mass(runs), drop(runs);
    for (int64_t j = 0; j < runs; ++j) {
      for (int64_t f : subsets[j]) mass[j] += a.data<double>()[n * D + f];
      drop[j] = s[n * per] - s[n * per + j + 1];
    }
    out.summary.push_back(pearson_correlation(mass, drop));
    out.values.set_item(n, out.summary.back());
  }
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
