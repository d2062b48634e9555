// Scores of the target class: see score.h.
#include "explain/evaluate/score.h"
#include "engine/check.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/ops_fill.h"

namespace xdnn::explain {

ScoreKind parse_score(const std::string& text) {
  if (text == "logit") return ScoreKind::Logit;
  if (text == "prob") return ScoreKind::Prob;
  if (text == "log-prob") return ScoreKind::LogProb;
  throw Error("--score '" + text + "': expected logit, prob or log-prob");
}

std::vector<double> target_scores(const Tensor& logits, const std::vector<int64_t>& targets, ScoreKind kind) {
  check(logits.ndim() == 2, "scores need logits (rows, classes), got " + logits.describe());
  const int64_t R = logits.dim(0), K = logits.dim(1);
  if (static_cast<int64_t>(targets.size()) != R)
    throw Error("internal: " + std::to_string(targets.size()) + " targets for " + std::to_string(R) + " rows");
  // The scores are host numbers: the logits come back once (ops::value_vector, float64, a copy from a device).
  const std::vector<double> f = ops::value_vector(logits);
  const double* p = f.data();
  std::vector<double> out(R);
  for (int64_t r = 0; r < R; ++r) {
    const double* row = p + r * K;
    const int64_t t = targets[r];
    if (t < 0 || t >= K)
      throw Error("target " + std::to_string(t) + " is out of range for " + std::to_string(K) + " classes");
    if (kind == ScoreKind::Logit) {
      out[r] = row[t];
      continue;
    }
    const double m = *std::max_element(row, row + K);
    double sum = 0.0;  // Σ_k exp(f_k − m), in class order
    for (int64_t k = 0; k < K; ++k) sum += std::exp(row[k] - m);
    out[r] = kind == ScoreKind::Prob ? std::exp(row[t] - m) / sum : (row[t] - m) - std::log(sum);
  }
  return out;
}

}  // namespace xdnn::explain
