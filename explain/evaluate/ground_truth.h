// Ground-truth localisation metrics (Arras et al. 2022, "CLEVR-XAI: A benchmark dataset for the ground
// truth evaluation of neural network explanations"; Zhang et al. 2018 for the pointing game; DeYoung
// et al. 2020, "ERASER", for token-level rationale F1): an attribution is compared with a mask G of the
// attribution's shape that marks where the evidence really is.
//   G = 1: relevant (the planted patch, the trigger token), G = 0: not relevant, G = −1: ignored (padding:
//   excluded from every ranking, sum and arg-max).
// Each sample needs at least one relevant and one counted position.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "explain/evaluate/metric.h"

namespace xdnn::explain {

// One sample's attribution and mask, ignored positions dropped: a[i], relevant[i].
struct GroundTruthSample {
  std::vector<double> a;
  std::vector<bool> relevant;
  int64_t num_relevant = 0;
};

// The request's ground truth (req.ground_truth, else the .npy named by --ground-truth, which the caller loaded
// into req.options.arrays: resolve_metrics), checked against the attribution (same shape, values −1/0/1,
// finite attribution), split per sample.
std::vector<GroundTruthSample> ground_truth_samples(const MetricRequest& req);

// Positions sorted by attribution, largest first, ties by lower position.
std::vector<int64_t> ranked(const std::vector<double>& a);

// The option spec every ground-truth metric takes.
OptionSpec ground_truth_option();

// The trigger task (models/io/trigger_task.h) a checkpoint trained by `xdnn train --data trigger` was
// tested on, regenerated from its metadata: the first `count` test sequences (N, T) int64 and their ground
// truth (N, T): 1 at the trigger position, 0 at the other tokens, −1 at padding.
struct GroundTruthData {
  Tensor input, ground_truth;
};
GroundTruthData trigger_test_set(const std::string& checkpoint, int64_t count);

}  // namespace xdnn::explain
