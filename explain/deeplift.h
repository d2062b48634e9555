// DeepLIFT as a building block (deeplift.cpp has the rules and the paper): the multipliers of a network
// run on the actual input (tape) and on a reference (btape), and the attribution (x − x̄) ⊙ m. Used by
// `deeplift` and `deeplift-shap` (one reference per baseline).
#pragma once
#include <string>
#include <vector>

#include "models/model.h"

namespace xdnn::explain {

enum class DeepLiftRule { Rescale, RevealCancel };
// "rescale" (also "") | "reveal-cancel"; throws naming --rule otherwise.
DeepLiftRule parse_deeplift_rule(const std::string& text);

// Multipliers ∂^DL f_{targets[n]} / ∂ value_id, shape of that value: the reverse walk from m = 1 at each
// row's target logit with the rescale rule at element-wise nonlinearities and max-pools; with RevealCancel,
// nonlinearities fed by a linear node alone use the RevealCancel rule (deeplift_reveal_cancel.cpp).
Tensor deeplift_multipliers(const Model& model, const Tape& tape, const Tape& btape,
                            const std::vector<int64_t>& targets, int value_id,
                            DeepLiftRule rule = DeepLiftRule::Rescale);

// (x − x̄) ⊙ m at the attribution point (the input, or the embedding output of a token model, then summed
// over d). x: the model input (N, ...); base: the reference point value, same shape as the point value.
Tensor deeplift_attribution(const Model& model, const Tensor& x, const Tensor& base,
                            const std::vector<int64_t>& targets, DeepLiftRule rule = DeepLiftRule::Rescale);

// RevealCancel (Shrikumar et al. 2017, §3.5.3) for a linear node `linear` (z = W ⋆ x + b) whose output
// feeds only an element-wise nonlinearity y = f(z): reveal_cancel_partner returns that nonlinearity's node
// index (-1 for any other node); reveal_cancel_multipliers maps the multipliers m_y at y to those at x.
int reveal_cancel_partner(const Model& model, int linear);
Tensor reveal_cancel_multipliers(const Model& model, int linear, int nonlinear, const Tape& tape, const Tape& btape,
                                 const Tensor& m_y);

}  // namespace xdnn::explain
