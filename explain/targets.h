// Target selection and the logits explainers differentiate: request checks, the model's logits value
// (its first output, (N, classes)), per-sample target classes (--target or the argmax) and the target logits.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "explain/method.h"
#include "models/model.h"

namespace xdnn::explain {

// Checks a request: a single-input model, input defined, one target per sample, each target in range.
void check_request(const ExplainRequest& req);

// Id of the model's logits value (its first output).
int logits_id(const Model& model);

// The logits of a tape, checked to be (rows, classes).
const Tensor& tape_logits(const Model& model, const Tape& tape);

// Per-sample target classes: `target` for every sample when target >= 0, otherwise the argmax of the
// logits (first index on ties). Throws when `target` is out of range.
std::vector<int64_t> resolve_targets(const Model& model, const Tensor& input, int64_t target);

// Per-sample targets given as an array (`--target labels.npy`): labels must be int64 (N,) for the N samples of
// `input`, each in [0, classes); `what` names the source in errors ("--target 'y.npy'").
std::vector<int64_t> per_sample_targets(const Model& model, const Tensor& input, const Tensor& labels,
                                        const std::string& what);

// targets as an int64 (R) tensor on `device` (for the seed ops of engine/ops_fill.h).
Tensor target_tensor(const std::vector<int64_t>& targets, Device device);
std::vector<int64_t> argmax_rows(const Tensor& logits);  // logits: (N, K)

// Σ_r f_{targets[r]} per row: the target logits, (R) as doubles.
std::vector<double> target_logits(const Tensor& logits, const std::vector<int64_t>& targets);

}  // namespace xdnn::explain
