// Where gradient-family explainers take attributions, and the gradient of the target logits there: the
// model input, or the embedding output of a token model; one forward and one backward pass through
// Model::forward / Model::backward in a BackwardMode.
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

// Runs the model with the point value set to `value` (R rows). `input_rows` is the model input for the
// same R rows (for float points it is `value` itself; for tokens, the ids repeated to R rows).
Tape forward_at(const Model& model, const Point& point, const Tensor& input_rows, const Tensor& value);

// Gradient of Σ_r f_{targets[r]}(row r) with respect to value `value_id` of `tape`, by a backward pass in
// `mode`. Shape of that value; zeros where nothing flows.
Tensor target_gradient(const Model& model, const Tape& tape, int value_id, const std::vector<int64_t>& targets,
                       BackwardMode mode = BackwardMode::Gradient);

// (N, T, d) -> (N, T): the sum over the last axis.
Tensor sum_last_axis(const Tensor& x);

// The attribution at the point as the method's output: summed over d for tokens.
Tensor finish_attribution(const Point& point, const Tensor& a);

}  // namespace xdnn::explain
