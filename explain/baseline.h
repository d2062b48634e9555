// Baselines of the path and reference methods (integrated gradients, DeepLIFT, occlusion, the perturbation
// methods): --baseline as a number, or an array the caller loaded from a .npy file.
#pragma once
#include <string>

#include "engine/tensor.h"
#include "explain/method.h"

namespace xdnn::explain {

// The baseline of a point value: --baseline as a number (a constant tensor; default 0) or a .npy file
// holding either the point value's full shape or its shape without the batch axis (then shared by all
// samples), read from options.arrays (the caller loaded it). Same dtype as `like`.
Tensor baseline_for(const Options& options, const Tensor& like);

// OptionSpec::names_file of --baseline: every value that is not a number names a .npy file.
bool baseline_names_file(const std::string& value);

// The --baseline option of a method: a number, or a .npy of the input's shape (one row per sample) or of
// one sample's shape.
OptionSpec baseline_option(const std::string& default_value, const std::string& help);

}  // namespace xdnn::explain
