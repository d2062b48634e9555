// LRP canonizers: rewrite a model into an equivalent one whose layers the rules handle well (Zennit's
// "canonizers"; Montavon et al. 2019, §10.3; Guillemot et al. 2020 for batch-norm folding).
//
// fold_batchnorm: a BatchNorm node (layer kind containing "BatchNorm") in inference is a per-channel
// affine map y = k ⊙ x + c along axis 1, k = γ/sqrt(var + eps), c = β − k·mean. When it reads the output
// of a Conv/Dense node (a LinearLike with weight rank ≥ 2) and is that value's only reader, it is folded
// into that node:  W' = k·W (scaled along the output-channel axis 0), b' = k·b + c = k·(b − mean) + β
// (b = 0 for a bias-free layer), and the BatchNorm node becomes the identity (relevance passes). The
// rule chosen for the Conv/Dense then applies to the folded node.
// A BatchNorm that cannot be folded (after a pooling, an Add, or as the model's first node) becomes a
// per-channel affine LinearLike node (weight k of rank 1, bias c): composites give it the epsilon rule,
// R_in = x ⊙ k ⊙ R / stab_ε(k ⊙ x + c) — the shift c absorbs its share, as a bias does.
//
// k and c are read through the layer interface only, by evaluating the BatchNorm's own inference forward
// at x = 0 (giving c) and at x = s (k = (y(s) − c)/s, s = 1024 so that k keeps the layer's precision):
// no knowledge of the layer's parameter names or its eps is needed.
//
// The original model is never modified: the result is a copy that shares every untouched layer and holds
// new wrapper layers (explain-internal, for LRP only: their backward gives input gradients but no
// parameter gradients) where nodes were rewritten. Node indices and value names are unchanged.
#pragma once
#include <string>
#include <vector>

#include "models/model.h"

namespace xdnn::explain::lrp {

struct CanonizeReport {
  std::vector<std::string> folded;    // "bn1 into conv1"
  std::vector<std::string> unfolded;  // BatchNorm nodes kept as per-channel affine maps
};

bool is_batchnorm(const Layer& layer);

// The model with every BatchNorm folded where possible (see above).
Model fold_batchnorm(const Model& model, CanonizeReport* report = nullptr);

}  // namespace xdnn::explain::lrp
