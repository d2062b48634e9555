// Linear probes (Alain & Bengio 2016, "Understanding intermediate layers using linear classifier probes"):
// a softmax classifier trained on one layer's activations, frozen network, scored by held-out accuracy;
// one probe per layer shows where in the network a property becomes linearly decodable.
//
// Control tasks (Hewitt & Liang 2019, "Designing and Interpreting Probes with Control Tasks", §2): each
// input *type* (a word type in their paper; here an image is its own type, a token position's type is its
// token id) gets a random label drawn once from the task's empirical label distribution; every row of that
// type carries it. A probe that scores well on the control task memorises types rather than reading the
// property, so selectivity = task accuracy − control accuracy (their §2.1) is reported beside accuracy.
//
// Training is deterministic: standardised features (mean / std of the training rows), weights and biases
// from zero, mini-batch Adam (Kingma & Ba 2015) over a seeded fixed order of the training rows, its step
// size decaying linearly to 0, L2 weight decay; float32 products through ops::matmul (bit-identical for any thread
// count), parameters in float64. Everything runs through ops:: on the features' device (the CPU, Strict (the
// same bits) or CUDA); only the predicted classes come back to the host, for the accuracies.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "explain/heatmap.h"
#include "models/model.h"

namespace xdnn::explain {

struct ProbeOptions {
  int64_t epochs = 3;
  // Small data sets get more epochs: training runs until at least min_steps mini-batches are done (3 epochs of
  // 8,000 rows at 256 are 96 steps; 800 rows need 23 epochs for as many).
  int64_t min_steps = 90;
  int64_t batch_size = 256;
  double learning_rate = 0.05;  // Adam's first step size on the standardised problem (decays linearly to 0)
  double weight_decay = 1e-4;   // L2 penalty (λ/2)·‖W‖² on the weights (not the biases)
  double holdout = 0.2;         // fraction of the groups (samples) held out for testing
  uint64_t seed = 0;            // training order, split and control labels
};

// z = W ((x − mean) / scale) + b, argmax z is the predicted class.
// The tensors are float64 on the device of the features the probe was fitted on.
struct LinearProbe {
  Tensor weight;       // (C, F), acting on standardised features
  Tensor bias;         // (C)
  Tensor mean, scale;  // (F)
  int64_t classes = 0, features = 0;
  // Predicted class of every row of `x` (M, F) (on the probe's device).
  std::vector<int64_t> predict(const Tensor& x) const;
};

// Fits a probe on rows `train_rows` of `x` (M, F) float32/float64 with labels[m] in [0, classes) (a label
// outside is the cross-entropy's one-line error).
LinearProbe fit_linear_probe(const Tensor& x, const std::vector<int64_t>& labels, int64_t classes,
                             const std::vector<int64_t>& train_rows, const ProbeOptions& opt);

// Hewitt & Liang's control labels: types[m] is row m's type; each distinct type gets one label drawn
// (seeded) from the empirical distribution of `labels`.
std::vector<int64_t> control_task_labels(const std::vector<int64_t>& types, const std::vector<int64_t>& labels,
                                         uint64_t seed);

// Rows split by group (rows of one sample stay together): a seeded permutation of the distinct groups, the
// last ⌈holdout·G⌉ of them held out (at least one group on each side).
struct ProbeSplit {
  std::vector<int64_t> train, test;
};
ProbeSplit split_probe_rows(const std::vector<int64_t>& groups, double holdout, uint64_t seed);

struct ProbeScore {
  std::string layer;
  int64_t features = 0;
  double train_accuracy = 0, accuracy = 0;  // the task, training and held-out rows
  double control_accuracy = 0;              // the control task, held-out rows
  double selectivity = 0;                   // accuracy − control_accuracy
  double majority = 0;                      // held-out accuracy of always answering the commonest training label
};

// One layer: rows x (M, F), task labels, the rows' types (control task) and groups (split).
ProbeScore probe_features(const Tensor& x, const std::vector<int64_t>& labels, const std::vector<int64_t>& types,
                          const std::vector<int64_t>& groups, const ProbeOptions& opt, const std::string& layer);

// The values of `model` a probe can read on `data` (N, ...): every float value with N rows that some node
// computes (the input included), in the model's order. `layers` non-empty: exactly those, each checked
// (an unknown name is an Error listing some that exist).
std::vector<std::string> probe_layer_names(const Model& model, const Tensor& data,
                                           const std::vector<std::string>& layers);

// Activations of the named values over `data` (N, ...), run in chunks of 500 rows: each (N, F) float32 on the
// model's device, F = the value's size per sample.
std::vector<Tensor> collect_activations(const Model& model, const Tensor& data, const std::vector<std::string>& names);

// Alain & Bengio's table: a probe per layer for the class labels (N,) of `data`, each image its own type.
std::vector<ProbeScore> probe_layers(const Model& model, const Tensor& data, const std::vector<int64_t>& labels,
                                     const std::vector<std::string>& layers, const ProbeOptions& opt);

// Token models (N, T) ids: rows are the positions t < lengths[n] of each sample; a value (N, T, H) gives
// row (n, t) its H features. Labels per row (row order: n major, t minor); a position's type is its token id
// and its group its sample. Values without a (N, T, ...) shape are refused naming the layer.
std::vector<ProbeScore> probe_token_layers(const Model& model, const Tensor& ids, const std::vector<int64_t>& lengths,
                                           const std::vector<int64_t>& row_labels,
                                           const std::vector<std::string>& layers, const ProbeOptions& opt);

// The table (header + one row per layer, numbers as text) and the plot (held-out accuracy of the task,
// the control task and the majority answer over the layers, first to last; needs ≥ 2 layers) that
// `xdnn probe` writes and the report's `probes` section shows (explain/global/probes_section.cpp).
std::vector<std::string> probe_table_header();
std::vector<std::vector<std::string>> probe_table_rows(const std::vector<ProbeScore>& scores);
RgbImage plot_probe_scores(const std::vector<ProbeScore>& scores);

}  // namespace xdnn::explain
