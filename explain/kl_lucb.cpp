// KL-LUCB confidence bounds; see kl_lucb.h.
#include "explain/kl_lucb.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace xdnn::explain {

double bernoulli_kl(double p, double q) {
  const double inf = std::numeric_limits<double>::infinity();
  double kl = 0;
  if (p > 0) kl += q <= 0 ? inf : p * std::log(p / q);
  if (p < 1) kl += q >= 1 ? inf : (1 - p) * std::log((1 - p) / (1 - q));
  return kl;
}

// 50 halvings of [p, 1] or [0, p]: an interval below 2^−50, the same steps on every machine.
constexpr int kHalvings = 50;

double kl_upper_bound(double p, double level) {
  p = std::clamp(p, 0.0, 1.0);
  double lo = p, hi = 1.0;  // KL(p ‖ lo) ≤ level < KL(p ‖ hi), or hi = 1 reachable
  if (bernoulli_kl(p, hi) <= level) return 1.0;
  for (int i = 0; i < kHalvings; ++i) {
    const double mid = 0.5 * (lo + hi);
    (bernoulli_kl(p, mid) > level ? hi : lo) = mid;
  }
  return hi;
}

double kl_lower_bound(double p, double level) {
  p = std::clamp(p, 0.0, 1.0);
  double lo = 0.0, hi = p;  // KL(p ‖ lo) > level ≥ KL(p ‖ hi), or lo = 0 reachable
  if (bernoulli_kl(p, lo) <= level) return 0.0;
  for (int i = 0; i < kHalvings; ++i) {
    const double mid = 0.5 * (lo + hi);
    (bernoulli_kl(p, mid) > level ? lo : hi) = mid;
  }
  return lo;
}

double kl_lucb_beta(int64_t arms, int64_t round, double delta) {
  const double k = 405.5, alpha = 1.1;
  const double a = std::log(k * static_cast<double>(arms) * std::pow(static_cast<double>(round), alpha) / delta);
  return a + std::log(a);
}

}  // namespace xdnn::explain
