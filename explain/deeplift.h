// DeepLIFT's rescale rule as a building block (deeplift.cpp has the rules and the paper): the
// multipliers of a network run on the actual input (tape) and on a reference (btape), and the
// attribution (x − x̄) ⊙ m. Used by `deeplift` and `deeplift-shap` (one reference per baseline).
#pragma once
#include <vector>

#include "models/model.h"

namespace xdnn::explain {

// Multipliers ∂^DL f_{targets[n]} / ∂ value_id, shape of that value: the reverse walk from m = 1 at each
// row's target logit with the rescale rule at element-wise nonlinearities and max-pools.
Tensor deeplift_multipliers(const Model& model, const Tape& tape, const Tape& btape,
                            const std::vector<int64_t>& targets, int value_id);

// (x − x̄) ⊙ m at the attribution point (the input, or the embedding output of a token model, then summed
// over d). x: the model input (N, ...); base: the reference point value, same shape as the point value.
Tensor deeplift_attribution(const Model& model, const Tensor& x, const Tensor& base,
                            const std::vector<int64_t>& targets);

}  // namespace xdnn::explain
