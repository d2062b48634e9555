// BatchNorm folded into the convolution before it, for inference (issue 15; Ioffe & Szegedy 2015 §3.2:
// in inference BN is the fixed affine map y = k ⊙ x + c per channel, k = γ / sqrt(σ² + eps),
// c = β − k·μ, with the running statistics μ, σ²). A Conv2d → BatchNorm2d pair becomes one Conv2d with
//   W' = k ⊙ W (each output channel o's filter scaled by k[o]),   b' = k ⊙ (b − μ) + β   (b = 0 if absent),
// so the batch-norm costs nothing at run time. The pair is folded only when the convolution's output is
// read by that BatchNorm alone (not by another node, not a model output): the folded graph has no value
// holding the convolution's own output.
//
// The folded model keeps every value name and node index: the convolution node holds the new Conv2d
// (same name, geometry and parameter names) and writes the batch-norm's output values into the
// convolution's value, and the BatchNorm node becomes an Identity. So the convolution's value no longer
// holds what its name says: consumers that read or name intermediate values (Grad-CAM's layer, LRP's
// canonizers and rules per layer, anything naming a BatchNorm tensor) must use the unfolded model.
// explain/inference_graph.h decides which consumers may use it.
//
// The original model is not changed (the copy shares every untouched layer). Parameters are combined in
// float64 and rounded once to the model's dtype. Valid only for inference (ForwardOptions::training
// false): the folded model has no batch statistics to train.
#pragma once
#include <string>
#include <vector>

#include "models/model.h"

namespace xdnn {

struct BatchNormFoldReport {
  std::vector<std::string> folded;  // "bn1 into conv1"
  std::vector<std::string> kept;    // BatchNorm nodes left as they are, with the reason
};

Model fold_batchnorm_for_inference(const Model& model, BatchNormFoldReport* report = nullptr);

}  // namespace xdnn
