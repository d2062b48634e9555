// The explained scalar of a (possibly perturbed) input, as the golden README's wave-2 conventions define
// it (`--score logit|prob|log-prob`), with f the model's logits (R, K) and K_r the row's target:
//   logit:    s = f_K
//   prob:     s = exp(f_K) / Σ_k exp(f_k)          (softmax over the class axis)
//   log-prob: s = f_K − log Σ_k exp(f_k)
// Softmax and log-sum-exp subtract the row's largest logit first (no overflow for large logits).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace xdnn::explain {

enum class ScoreKind { Logit, Prob, LogProb };

// "logit" | "prob" | "log-prob"; throws naming --score otherwise.
ScoreKind parse_score(const std::string& text);

// logits: (R, K); targets: R classes. Returns s per row, in double.
std::vector<double> target_scores(const Tensor& logits, const std::vector<int64_t>& targets, ScoreKind kind);

}  // namespace xdnn::explain
