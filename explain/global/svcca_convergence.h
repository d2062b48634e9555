// Bottom-up convergence over training (Raghu et al. 2017, "SVCCA", §4.1 and fig. 4): the SVCCA similarity
// (mean canonical correlation, explain/svcca.h) of every layer at every checkpoint of one training run to
// the same layer at the final checkpoint, on the same inputs. Lower layers reach their final
// representation earlier than higher ones; the final checkpoint is 1 by construction.
#pragma once
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "explain/heatmap.h"
#include "models/model.h"

namespace xdnn::explain {

struct SvccaConvergence {
  std::vector<std::string> layers;              // tensor names, in the model's order
  std::vector<std::string> checkpoints;         // labels, oldest first; the last one is the reference
  std::vector<std::vector<double>> similarity;  // [layer][checkpoint]: mean canonical correlation to the final
  std::vector<std::vector<int64_t>> kept;       // [layer][checkpoint]: SVD directions kept at that checkpoint
};

// The outputs of the nodes that hold parameters (conv1, conv2, fc for fashion-cnn): the layers of the plot
// when none are named.
std::vector<std::string> parameter_layer_outputs(const Model& model);

// Every model of `models` must have the parameters of the last one (names and shapes): a checkpoint of
// another architecture is an Error naming its label and the first parameter that differs.
// input: (N, ...) what the models take; layers: tensor names with float (N, F) or (N, C, h, w) values.
SvccaConvergence svcca_convergence(const std::vector<Model*>& models, const std::vector<std::string>& labels,
                                   const Tensor& input, const std::vector<std::string>& layers, double keep);

// The checkpoints' files (any --model spec), loaded one at a time beside the final one, onto the input's device.
SvccaConvergence svcca_convergence_of_files(const std::vector<std::string>& checkpoints, const Tensor& input,
                                            const std::vector<std::string>& layers, double keep);

// One line per layer over the checkpoints (x: checkpoint index, y: similarity to the final state).
RgbImage plot_svcca_convergence(const SvccaConvergence& c);

}  // namespace xdnn::explain
