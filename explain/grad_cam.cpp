// Grad-CAM (Selvaraju et al. 2017): see grad_cam.h. Output (N, 1, h, w) for 2-D feature maps, (N, 1, L) for
// 1-D ones (as Captum's LayerGradCam: gradients averaged over every axis after the channel axis), or
// resized to the input's spatial size with --upsample.
#include "explain/grad_cam.h"

#include <optional>
#include <string>

#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "explain/point.h"
#include "explain/upsample.h"
#include "models/fuse_epilogues.h"

namespace xdnn::explain {

namespace {

// Grad-CAM reads A[n] as sample n's feature maps, so A's axis 0 must be the batch. An ONNX LSTM's output
// Y is 4-D too, (T, directions, N, H): taken as an image activation it would give T "samples" of garbage.
// Axis 0 must equal the batch size, and must follow it when the batch size changes. The probe is the
// forward pass on an empty batch (0 samples: it computes nothing) that grad_cam_map runs anyway, whose
// activation must have 0 rows: a sequence length T that happens to equal N stays T. A graph that cannot
// run an empty batch (empty_tape null) is probed with 1 sample, or 2 when N = 1.
void check_batch_axis(const Model& model, const Tensor& x, const std::string& layer, const Tensor& A,
                      const Tape* empty_tape) {
  const int64_t N = x.dim(0);
  bool ok = A.dim(0) == N;
  if (ok && model.exported_batch == 0) {  // a graph exported for a fixed batch size runs no other one
    const auto follows = [&](const Tape& probe_tape, int64_t rows) {
      const Tensor& Ap = probe_tape.values.at(model.value_id(layer));
      return Ap.defined() && Ap.ndim() == A.ndim() && Ap.dim(0) == rows;
    };
    if (empty_tape) {
      ok = follows(*empty_tape, 0);
    } else {
      const Tensor probe = N == 1 ? ops::concat_axis({x, x}, 0) : x.slice_batch(0, 1).clone();
      ok = follows(model.forward({probe}), probe.dim(0));
    }
  }
  if (!ok)
    throw Error("grad-cam: activation '" + layer + "' " + A.describe() + " does not have the batch (" +
                    std::to_string(N) + " samples) on axis 0",
                "Grad-CAM needs an (N, C, h, w) or (N, C, L) feature map; name one with --layer");
}

bool is_pool(const Node& node) { return std::string(node.layer->kind()).find("Pool") != std::string::npos; }

// Feature maps: values (N, C, h, w) or (N, C, L) made by a convolution (a linear-like layer with a weight
// of 3 or more axes), or by any other non-pooling node that reads a feature map and keeps its rank (batch
// norm, ReLU, residual Add, concatenation). Returns the last one of rank `rank` with more than one
// position, or "" when there is none. Activations of the same rank that no convolution made (a
// recurrent layer's (T, D, N, H) output, attention scores) are not feature maps.
std::string last_feature_map(const Model& model, const Tape& tape, int rank) {
  std::vector<bool> feature(model.num_values(), false);
  std::string best;
  for (const Node& node : model.nodes()) {
    if (is_pool(node)) continue;
    const LinearLike* lin = node.layer->as_linear();
    const bool conv = lin != nullptr && lin->weight().ndim() >= 3;
    for (int out : node.outputs) {
      if (out < 0) continue;
      const Tensor& v = tape.values[out];
      if (!v.defined() || !v.is_float() || v.ndim() < 3) continue;
      bool made = conv;
      for (int id : node.inputs) made = made || (id >= 0 && feature[id] && tape.values[id].ndim() == v.ndim());
      if (!made) continue;
      feature[out] = true;
      int64_t positions = 1;  // from the shape, not numel / (N·C): an empty batch picks the same layer
      for (int i = 2; i < v.ndim(); ++i) positions *= v.dim(i);
      if (v.ndim() == rank && positions > 1) best = model.value_name(out);
    }
  }
  return best;
}

}  // namespace

std::string default_cam_layer(const Model& model, const Tape& tape) {
  std::string best = last_feature_map(model, tape, 4);
  if (best.empty()) best = last_feature_map(model, tape, 3);
  if (best.empty())
    throw Error("grad-cam: the model has no convolutional feature map (N, C, h, w) or (N, C, L) to use",
                "name an activation with --layer");
  return best;
}

std::string default_cam_layer(const Model& model, const Tensor& input) {
  return default_cam_layer(model, model.forward({input}));
}

Tensor upsample_map(const Tensor& map, const Tensor& x, const char* method) {
  if (map.ndim() == 4) {
    if (x.ndim() != 4)
      throw Error(std::string(method) + " --upsample: a 2-D map needs (N, C, H, W) images, got " + x.describe());
    return upsample_bilinear(map, x.dim(2), x.dim(3));
  }
  // 1-D map (N, 1, L) to the input's length: images of one row (N, C, L) or token ids (N, T); linear
  // interpolation with half-pixel centres (PyTorch interpolate(mode='linear')) as a 1-row bilinear resize.
  if (map.ndim() != 3 || (x.ndim() != 3 && x.ndim() != 2))
    throw Error(std::string(method) + " --upsample: cannot resize a map " + map.describe() + " to an input " +
                x.describe());
  const int64_t N = map.dim(0), L = map.dim(2), target = x.dim(-1);
  return upsample_bilinear(map.reshape({N, 1, 1, L}), 1, target).reshape({N, 1, target});
}

// Cost: one forward pass, and a backward pass through the layers above `layer` only (target_gradient
// stops at the layer's producer), then O(N·C·S) for the map, S the number of positions. A forward pass
// on an empty batch first (no arithmetic) picks the default layer and probes the batch axis; the nodes up
// to the layer's producer then need no backward pass, so their convolution chains run fused
// (models/fuse_epilogues.h: the same bits of A, and of every value the backward reads).
Tensor grad_cam_map(const ExplainRequest& req, const std::string& layer_name, bool upsample) {
  const Model& unfused = *req.model;
  const Tensor x = model_input(req);
  std::optional<Tape> empty_tape;
  if (unfused.exported_batch == 0) {  // a graph exported for a fixed batch size runs no other one
    try {
      empty_tape = unfused.forward({x.slice_batch(0, 0).clone()});
    } catch (const Error&) {  // e.g. a Reshape with -1, which has no size to infer from 0 elements
    }
  }
  std::string layer = layer_name.empty() && empty_tape ? default_cam_layer(unfused, *empty_tape) : layer_name;
  Model fused;
  if (empty_tape)
    fused = fuse_conv_epilogues_for_inference(unfused, nullptr, unfused.producer(unfused.value_id(layer)));
  const Model& model = empty_tape ? fused : unfused;
  Tape tape = model.forward({x});
  if (layer.empty()) layer = default_cam_layer(model, tape);
  const int id = model.value_id(layer);
  const Tensor& A = tape.values.at(id);
  if (!A.defined() || !A.is_float() || A.ndim() < 3)
    throw Error("grad-cam: --layer " + layer + ": expected a float (N, C, h, w) or (N, C, L) tensor, got " +
                (A.defined() ? A.describe() : std::string("nothing")));
  check_batch_axis(unfused, x, layer, A, empty_tape ? &*empty_tape : nullptr);
  const Tensor G = target_gradient(model, tape, id, req.targets);
  const int64_t N = A.dim(0), C = A.dim(1), S = A.numel() / (N * C);
  // α (N·C, 1) = G (N·C, S) · (1/S) for all samples in one product (eq. 1).
  const Tensor mean = ops::full({S, 1}, 1.0 / static_cast<double>(S), A.dtype(), A.device());
  const Tensor alpha = ops::matmul(G.reshape({N * C, S}), mean);
  Shape map_shape = A.shape();
  map_shape[1] = 1;
  Tensor cam({N, 1, S}, A.dtype(), A.device());
  for (int64_t n = 0; n < N; ++n) {
    const Tensor An = A.slice_batch(n, n + 1).reshape({C, S});
    const Tensor an = alpha.slice_batch(n * C, (n + 1) * C);                                   // (C, 1)
    cam.slice_batch(n, n + 1).copy_from(ops::matmul(an, An, true, false).reshape({1, 1, S}));  // eq. 2
  }
  cam = ops::unary(ops::Unary::Relu, cam).reshape(map_shape);
  if (!upsample) return cam;
  return upsample_map(cam, x, "grad-cam");
}

namespace {

Attribution grad_cam(const ExplainRequest& req) {
  const bool up = req.options.get("upsample", "false") == "true";
  return {grad_cam_map(req, req.options.get("layer", ""), up), "grad-cam", req.options.values, 0};
}

MethodRegistration reg{
    {"grad-cam",
     "gradient-weighted class activation map of a feature layer (Selvaraju et al. 2017)",
     {{"layer", "", "tensor name of an (N, C, h, w) or (N, C, L) activation (default: the last one)", "TENSOR"},
      {"upsample", "false", "resize the map to the input's height and width, or length (bilinear / linear)"}},
     grad_cam}};

}  // namespace
}  // namespace xdnn::explain
