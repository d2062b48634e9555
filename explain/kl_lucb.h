// KL-LUCB (Kaufmann & Kalyanakrishnan 2013, "Information complexity in bandit subset selection", COLT),
// the best-arm identification Anchors uses (Ribeiro, Singh & Guestrin 2018, §3.1, Algorithm 2 "B-BestCand"):
// the confidence bounds of a Bernoulli arm with mean estimate p̂ drawn n times are
//   U = max{ q ∈ [p̂, 1] : n · KL(p̂ ‖ q) ≤ β },   L = min{ q ∈ [0, p̂] : n · KL(p̂ ‖ q) ≤ β },
// KL the Bernoulli Kullback–Leibler divergence, and the exploration rate
//   β(t, δ) = log(k · A · t^α / δ) + log log(k · A · t^α / δ),   k = 405.5, α = 1.1   (their eq. 4-5, A arms).
// The bounds are found by bisection to within 2^−50 (a fixed number of halvings: deterministic).
#pragma once
#include <cstdint>

namespace xdnn::explain {

// KL(Bernoulli(p) ‖ Bernoulli(q)) = p log(p/q) + (1−p) log((1−p)/(1−q)), with 0 log 0 = 0; +inf where q
// is 0 or 1 and p is not.
double bernoulli_kl(double p, double q);
// The largest q ∈ [p, 1] with KL(p ‖ q) ≤ level (level = β / n); rounded up, never below the exact value.
double kl_upper_bound(double p, double level);
// The smallest q ∈ [0, p] with KL(p ‖ q) ≤ level; rounded down, never above the exact value.
double kl_lower_bound(double p, double level);
// β(t, δ) of KL-LUCB for `arms` arms at round t ≥ 1.
double kl_lucb_beta(int64_t arms, int64_t round, double delta);

}  // namespace xdnn::explain
