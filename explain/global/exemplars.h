// Filter and data views (`xdnn exemplars`, the report's `filters`, `top-activations` and `exemplars`
// sections):
//   - first-layer weights drawn as images (Krizhevsky et al. 2012, Fig. 3; Zeiler & Fergus 2014, Fig. 2);
//   - the top-k examples of a data set for a channel of any layer: each example scored by the channel's
//     largest activation over positions, shown as the receptive-field patch of that position (Zeiler &
//     Fergus 2014, "Visualizing and Understanding Convolutional Networks", §4, Fig. 2);
//   - class exemplars: the examples nearest (Euclidean) to each class's mean activation, or to one
//     example's, in a layer's space (the activations flattened to one vector per example).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "explain/global/receptive_field.h"
#include "explain/heatmap.h"
#include "models/model.h"

namespace xdnn::explain {

// The first layer's weights as images: (O, C, KH, KW) of the first node (in order) that is a convolution,
// or of a first linear layer whose inputs are the model's whole (C, H, W) image (weights (O, C·H·W)). An
// error naming the first node otherwise.
struct FirstLayerWeights {
  std::string node;
  Tensor weight;  // float (O, C, KH, KW)
};
FirstLayerWeights first_layer_weights(const Model& model);

// A grid of the filters, one row of cells per filter: an RGB cell when C = 3 (0.5 + 0.5 w / max|w|),
// else one cell per input channel (at most 8) in the blue-white-red map scaled by the filter's max |w|.
// Each weight is `scale` × `scale` pixels.
RgbImage filter_grid(const Tensor& weight, int scale);

struct TopActivation {
  int64_t sample = 0;
  int64_t y = -1, x = -1;  // position of the channel's maximum (-1 for (N, F) values)
  double value = 0;
  bool operator==(const TopActivation&) const = default;
};

// For each channel of value `layer`, the `k` examples of `data` (N, ...) whose largest activation of the
// channel is highest (each example at most once; ties: lower index first), in decreasing order. The value
// is (N, C, H, W), (N, C, L) or (N, F) (a channel is a feature then); the data run through the model in
// chunks of `batch` rows. Errors name the layer, or the channel and the channels the layer has.
std::vector<std::vector<TopActivation>> top_activations(const Model& model, const Tensor& data,
                                                        const std::string& layer, const std::vector<int64_t>& channels,
                                                        int64_t k, int64_t batch = 256);

// The value `layer` for every row of `data`, the model run on `batch` rows at a time (memory: one chunk's
// tape), stacked in row order.
Tensor layer_activations(const Model& model, const Tensor& data, const std::string& layer, int64_t batch = 256);

// The number of channels (dim 1) of value `layer` on an input of the data's shape, from one example.
int64_t channel_count(const Model& model, const Tensor& data, const std::string& layer);

// The receptive-field patches of the top activations: one row per channel, its examples' patches left to
// right, each patch drawn in a cell of the field's full size (parts outside the image light grey), every
// patch's pixels scaled to the example image's own [min, max]. data: (N, C, H, W) images, C = 1 or 3.
RgbImage patch_grid(const Tensor& data, const ReceptiveField& rf, const std::vector<std::vector<TopActivation>>& top,
                    int scale);

// The `k` rows of `points` (N, F) nearest to `centre` (F values), nearest first (ties: lower index).
std::vector<int64_t> nearest_rows(const Tensor& points, const std::vector<double>& centre, int64_t k);

struct ClassExemplars {
  int64_t label = 0;
  std::vector<int64_t> nearest;  // example indices, nearest to the class mean first
  std::vector<double> distance;
};
// activations: (N, ...) of a layer, flattened to (N, F); labels: int64 (N,). One entry per class present.
std::vector<ClassExemplars> class_exemplars(const Tensor& activations, const Tensor& labels, int64_t k);

// Whole examples (N, C, H, W) as a grid: one row per list of example indices.
RgbImage example_grid(const Tensor& data, const std::vector<std::vector<int64_t>>& rows, int scale);

}  // namespace xdnn::explain
