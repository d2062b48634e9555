// Pieces every gradient-family explainer shares: where attributions are taken (the model input, or the
// embedding output of a token model), target selection, the gradient of the target logits through
// Model::forward / Model::backward in a BackwardMode, batching of many perturbed copies of a batch
// through one model call, baselines, and bilinear upsampling of class activation maps.
//
// Conventions (see /work/shared/golden/README.md):
// - The explained scalar for sample n is the pre-softmax logit f_{K_n}(x_n) of the model's first output,
//   which must be (N, classes).
// - Token models (int64 input (N, T)): the differentiated value is the embedding output e (N, T, d),
//   i.e. the value produced by the first node that reads the int64 input and writes a float tensor; the
//   attribution is summed over d, giving (N, T). Perturbed embeddings are fed through the rest of the
//   network with Model::forward's `replace` map.
// - Samples are independent: every method computes sample n from x_n alone (copies of a batch are
//   stacked along the batch axis, never mixed).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "explain/method.h"
#include "models/model.h"

namespace xdnn::explain {

// The value attributions are taken at.
struct Point {
  int value_id = -1;    // the model input, or the embedding output for token models
  bool tokens = false;  // int64 input: value is (N, T, d); attributions are summed over d
};

// Finds the point for this model and input (runs one forward pass for token inputs to see dtypes).
Point attribution_point(const Model& model, const Tensor& input);

// Checks a request: a single-input model, input defined, one target per sample, each target in range.
void check_request(const ExplainRequest& req);

// The request's input as the model computes on it: float inputs converted to the model's dtype.
Tensor model_input(const ExplainRequest& req);

// One forward and one backward pass at the request's input: the point value and the gradient of the
// target logits with respect to it, in `mode`.
struct PointGradient {
  Point point;
  Tensor value;  // the point value (input, or embedding output (N, T, d))
  Tensor grad;   // ∂(Σ_n f_{K_n}) / ∂value, shape of value
};
PointGradient gradient_at_point(const ExplainRequest& req, BackwardMode mode);

// Id of the model's logits value (its first output).
int logits_id(const Model& model);
// The logits of a tape, checked to be (rows, classes).
const Tensor& tape_logits(const Model& model, const Tape& tape);

// Per-sample target classes: `target` for every sample when target >= 0, otherwise the argmax of the
// logits (first index on ties). Throws when `target` is out of range.
std::vector<int64_t> resolve_targets(const Model& model, const Tensor& input, int64_t target);
std::vector<int64_t> argmax_rows(const Tensor& logits);  // logits: (N, K)

// Runs the model with the point value set to `value` (R rows). `input_rows` is the model input for the
// same R rows (for float points it is `value` itself; for tokens, the ids repeated to R rows).
Tape forward_at(const Model& model, const Point& point, const Tensor& input_rows, const Tensor& value);

// Gradient of Σ_r f_{targets[r]}(row r) with respect to value `value_id` of `tape`, by a backward pass in
// `mode`. Shape of that value; zeros where nothing flows.
Tensor target_gradient(const Model& model, const Tape& tape, int value_id, const std::vector<int64_t>& targets,
                       BackwardMode mode = BackwardMode::Gradient);

// Σ_r f_{targets[r]} per row: the target logits, (R) as doubles.
std::vector<double> target_logits(const Tensor& logits, const std::vector<int64_t>& targets);

// (N, ...) -> (times·N, ...): copy j occupies rows [j·N, (j+1)·N).
Tensor repeat_rows(const Tensor& x, int64_t times);
std::vector<int64_t> repeat_targets(const std::vector<int64_t>& targets, int64_t times);
// How many copies of an N-row batch to stack into one model call (at least 1). One, when the model was
// exported for a fixed batch size (Model::exported_batch): such graphs carry that size in their Reshape
// constants, so stacked copies would not fit them.
int64_t copies_per_call(const Model& model, int64_t N, int64_t total_copies);

// (N, T, d) -> (N, T): the sum over the last axis.
Tensor sum_last_axis(const Tensor& x);
// The attribution at the point as the method's output: summed over d for tokens.
Tensor finish_attribution(const Point& point, const Tensor& a);

// The baseline of a point value: --baseline as a number (a constant tensor; default 0) or a .npy file
// holding either the point value's full shape or its shape without the batch axis (then shared by all
// samples). Same dtype as `like`.
Tensor baseline_for(const Options& options, const Tensor& like);

// "1,5,5" -> {1, 5, 5}; throws naming --option on malformed text.
std::vector<int64_t> parse_int_list(const std::string& option, const std::string& text);

// Bilinear resize with half-pixel centres (PyTorch align_corners=False, ONNX Resize half_pixel):
// cam (N, 1, h, w) -> (N, 1, H, W). Source coordinate s = (y + 1/2)·h/H − 1/2 clamped below at 0,
// y0 = floor(s), y1 = min(y0 + 1, h − 1), λ = s − y0; the same along the width.
Tensor upsample_bilinear(const Tensor& cam, int64_t H, int64_t W);
// The (out, in) matrix of that 1-D resize: upsample_bilinear is R_y · cam · R_xᵀ per map.
Tensor resize_matrix(int64_t out, int64_t in, DType dtype);

}  // namespace xdnn::explain
