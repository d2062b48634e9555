// LRP rules for every layer that is linear in its input (Linear, Conv, and anything else that returns a
// LinearLike), written once against the two maps of LinearLike, as Zennit does.
//
// Notation (Montavon et al. 2019, "Layer-wise relevance propagation: an overview"; conventions of
// ../shared/golden/README.md "LRP"): z = W ⋆ x + b, R the relevance at the output, stab_ε(z) =
// z + ε·sign(z) with sign(0) = +1, W⁺ = max(W, 0), W⁻ = min(W, 0), likewise x⁺, x⁻, b⁺, b⁻.
#pragma once
#include <string>
#include <vector>

#include "layers/layer.h"

namespace xdnn {

// Relevance at the input of `layer` (shape of its saved input) for relevance R at its output.
// R may be undefined (no relevance reached this layer): the result is then zero.
Tensor linear_relevance(const LinearLike& layer, const Saved& saved, const Tensor& R, const Rule& rule);

// Names accepted by linear_relevance, for error messages.
std::vector<std::string> linear_rule_names();

}  // namespace xdnn
