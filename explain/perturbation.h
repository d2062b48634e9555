// Machinery shared by the perturbation explainers (feature ablation, Shapley values, KernelSHAP, LIME,
// RISE, ...), as the golden README's "Wave 2 / Common conventions" fixes it:
//   - the explained score s(x') of a (perturbed) copy of sample n: the target logit f_K, its softmax
//     probability, or its log-probability (--score), computed the stable way;
//   - feature groups: `--feature-mask M.npy` (int64, one sample's shape, values 0..G−1, each present),
//     or built in: `grid:S` (S×S-pixel cells of an image, all channels together), one group per token
//     (int64 input (N, T)), one per column (tabular input (N, D));
//   - coalitions z ∈ {0,1}^G: h_n(z) is sample n with every group g with z_g = 0 removed (set to the
//     baseline, or its token ids replaced by --pad-id), v_n(z) = s(h_n(z));
//   - batched perturbed forwards: the S perturbed copies of an N-sample batch go through the model in
//     chunks of about kRowsPerCall rows (copy j of a chunk in rows [j·N, (j+1)·N)), so memory does not
//     grow with S; every row is computed from its own sample;
//   - seeded sampling by SplitMix64 (the golden README's §KernelSHAP PRNG).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "explain/baseline.h"
#include "explain/evaluate/score.h"
#include "explain/method.h"

namespace xdnn::explain {

// ---- the explained score (ScoreKind, parse_score, target_scores: explain/evaluate/score.h) ----
// ∂s/∂logits for every row (R, K), the seed of a backward pass: one-hot(K) for logit,
// one-hot − softmax for log-prob, p_K·(one-hot − softmax) for prob. Same dtype as `logits`.
Tensor score_seed(const Tensor& logits, const std::vector<int64_t>& targets, ScoreKind score);
// Gradient of Σ_r s_r (row r's score for targets[r]) with respect to value `value_id` of `tape`.
Tensor score_gradient(const Model& model, const Tape& tape, int value_id, const std::vector<int64_t>& targets,
                      ScoreKind score);

// ---- seeded sampling ----
// SplitMix64 (Steele, Lea & Flood 2014), exactly as the golden README's §KernelSHAP writes it.
struct SplitMix64 {
  uint64_t state;
  explicit SplitMix64(uint64_t seed) : state(seed) {}
  uint64_t next();
  double uniform();  // (next() >> 11) · 2^−53 ∈ [0, 1)
  // Jumps over `count` draws (next() adds a constant to the state, so this is exact and O(1)): a chunk of
  // a batch starts where the whole batch's stream would be at its first sample.
  void skip(uint64_t count) { state += count * 0x9E3779B97F4A7C15ULL; }
};
// --seed as an unsigned 64-bit integer (a negative value is an error naming --seed).
uint64_t parse_seed(const Options& options);

// ---- feature groups ----
struct FeatureGroups {
  int64_t count = 0;              // G
  std::vector<int64_t> group_of;  // per element of one sample (row-major), 0..G−1
  std::string source;             // "mask.npy", "grid:4", "tokens", "columns"
};
// The groups for the samples of x ((N, ...) input; tokens: (N, T) ids): --feature-mask as a .npy path,
// "grid:S" or "slic:K[,m]" (SLIC superpixels of the image, explain/slic.h; these differ per sample, so x
// must hold one sample: see groups_per_sample); without it, one group per token / per column, and grid:4
// for images. Throws one line naming --feature-mask on a wrong shape, dtype or ids.
FeatureGroups feature_groups(const Options& options, const Tensor& x, bool tokens);
// OptionSpec::names_file of --feature-mask: every value but grid:S and slic:K[,m] names a .npy file.
bool feature_mask_names_file(const std::string& value);
// Whether the grouping depends on the sample (slic:...) and the batch has several: methods then run
// sample by sample (for_each_sample).
bool groups_per_sample(const ExplainRequest& req);
// Runs `method` on every sample alone and stacks the results (parameters that differ are joined with ',').
Attribution for_each_sample(const ExplainRequest& req, const std::function<Attribution(const ExplainRequest&)>& method);
// Validates a mask of one sample's shape (values 0..G−1, every id present) and builds the groups.
FeatureGroups groups_from_mask(const Tensor& mask, const Shape& sample_shape, const std::string& source);
// Per-group values (N, G) as doubles → the output: every element of group g gets value g. `shape` is the
// output's shape ((N, ...) of the input; (N, T) for tokens).
Tensor spread_groups(const std::vector<double>& per_group, const FeatureGroups& groups, const Shape& shape,
                     DType dtype);

// ---- perturbed forwards ----
struct Perturber {
  const Model* model = nullptr;
  Tensor x;                      // (N, ...) float input in the model's dtype, or int64 token ids (N, T)
  bool tokens = false;           // x holds token ids
  Tensor baseline;               // float inputs: (N, ...) values of removed elements (model dtype)
  int64_t pad_id = 0;            // token inputs: the id that replaces removed tokens
  std::vector<int64_t> targets;  // K_n
  ScoreKind score = ScoreKind::Logit;
  bool progress = false;  // draw a progress bar on stderr for long runs
  std::string label;      // progress bar label (the method's name)

  int64_t samples() const { return x.dim(0); }
  int64_t per_sample() const { return x.numel() / x.dim(0); }
  Shape sample_shape() const { return Shape(x.shape().begin() + 1, x.shape().end()); }

  // Scores of S perturbed copies of the batch: out[s·N + n] = s(copy s of sample n). fill(s0, k, rows)
  // writes copies s0 .. s0+k−1 into `rows` ((k·N, ...), x's dtype, copy j in rows [j·N, (j+1)·N)); the
  // copies go through the model in chunks of about kRowsPerCall rows. `done(s0, k, scores)`, when given,
  // sees each chunk's k·N scores right after its forward (while the fill's per-chunk data is alive).
  using Fill = std::function<void(int64_t s0, int64_t k, Tensor& rows)>;
  using Done = std::function<void(int64_t s0, int64_t k, const double* scores)>;
  std::vector<double> score_copies(int64_t S, const Fill& fill, const Done& done = nullptr) const;

  // v_n(z_s) for the coalitions Z (S rows of G entries 0/1, row-major): out[s·N + n].
  std::vector<double> coalition_scores(const std::vector<uint8_t>& Z, int64_t S, const FeatureGroups& groups) const;
};

// The rows per model call of score_copies (about 32: large enough that the per-call overhead vanishes,
// small enough that one layer's activations stay in the L2 cache: fashion-cnn in float64, 1 thread,
// 100 images, expected gradients 3.8 s CPU with 100-row calls, 2.9 s with 20-row calls; RISE 1.61 vs 1.49 s).
constexpr int64_t kRowsPerCall = 32;

// The Perturber of a request: input, targets, --score, and --baseline (float inputs; a number or .npy)
// or --pad-id (token inputs; required there, refused for float inputs).
Perturber make_perturber(const ExplainRequest& req, const std::string& method);

// --baselines B.npy of expected-gradients / deeplift-shap: float (J, ...), each row one sample's shape
// of `x` (float input (N, ...)); returned in x's dtype. Without --baselines: one all-zero baseline (the
// methods then reduce to integrated gradients / DeepLIFT from 0). Throws naming --baselines otherwise.
Tensor baseline_set(const Options& options, const Tensor& x, const std::string& method);

// Parameters shared by the group methods, for the Attribution: groups, source.
void describe_groups(const FeatureGroups& groups, Attribution& a);

// The frame the feature-group methods (feature-ablation, shapley-sampling, kernel-shap, lime) share: a
// batch whose groups differ per sample (slic:K) runs sample by sample; otherwise `per_group` gets the
// request's Perturber and groups, returns the group values (N, G) row-major and may set the seed and
// parameters of `out`; the values are spread over the input's elements and the groups described.
using GroupMethod = std::function<std::vector<double>(const ExplainRequest& req, const Perturber& p,
                                                      const FeatureGroups& groups, Attribution& out)>;
Attribution group_attribution(const ExplainRequest& req, const std::string& method, const GroupMethod& per_group);

// The seeded coalitions of KernelSHAP's sampled regime (golden README §KernelSHAP): K rows of G
// entries 0/1, row-major; sizes k ∈ 1..G−1 with probability ∝ 1/(k(G−k)), members by a partial
// Fisher–Yates shuffle of [0..G−1] (fresh for every row).
std::vector<uint8_t> kernel_shap_sample(int64_t G, int64_t K, uint64_t seed);

// Option specs the perturbation methods share (the CLI declares each name once). Not `inline`: an inline
// variable is a unique global symbol that libxdnn.map cannot hide (tests/examples checks the exports).
const OptionSpec kOptFeatureMask{
    "feature-mask", "",
    "feature groups: int64 .npy of one sample's shape with ids 0..G-1, grid:S (SxS-pixel cells) or slic:K[,m] "
    "(about K SLIC superpixels, compactness m); default: one group per token / column, grid:4 for images",
    "FILE|grid:S|slic:K[,m]", feature_mask_names_file};
const OptionSpec kOptGroupBaseline = baseline_option(
    "", "value of removed features (float inputs): a number or a .npy of the input's shape (default 0)");
const OptionSpec kOptPadId{"pad-id", "", "token id that replaces removed tokens (token inputs)", "INT"};
const OptionSpec kOptScore{"score", "logit", "explained score of the target class: logit, prob or log-prob",
                           "{logit,prob,log-prob}"};
const OptionSpec kOptSeed{"seed", "0", "seed of the sampling (SplitMix64)"};

}  // namespace xdnn::explain
