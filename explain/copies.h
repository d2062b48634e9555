// Many perturbed copies of a batch through one model call: copies stacked along the batch axis (copy j
// in rows [j·N, (j+1)·N), never mixed with other samples) and how many copies one call takes.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "models/model.h"

namespace xdnn::explain {

// (N, ...) -> (times·N, ...): copy j occupies rows [j·N, (j+1)·N).
Tensor repeat_rows(const Tensor& x, int64_t times);

std::vector<int64_t> repeat_targets(const std::vector<int64_t>& targets, int64_t times);

// How many copies of the batch `input` (N rows, the tensor the copies are made of) to stack into one model
// call (at least 1). One, when the model was exported for a fixed batch size (Model::exported_batch): such
// graphs carry that size in their Reshape constants, so stacked copies would not fit them.
int64_t copies_per_call(const Model& model, const Tensor& input, int64_t total_copies);

}  // namespace xdnn::explain
