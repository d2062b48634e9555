// CAM, class activation mapping (Zhou et al. 2016, eq. 2) for networks that end in global average
// pooling followed by one linear layer: M_K(h, w) = Σ_c W[K, c] · A[c, h, w], where A (N, C, h, w) is
// the GAP's input and W (classes, C) the linear layer's weight; likewise M_K(l) for 1-D feature maps
// A (N, C, L) averaged over L (text CNNs), giving (N, 1, L). No ReLU, no bias, no normalisation (as in
// the paper); with --upsample the map is resized to the input's (H, W) like Grad-CAM's.
// Relation used as a property test: on such a network Grad-CAM at A equals ReLU(CAM) / (h·w).
//
// The GAP and the linear layer are found structurally, never by class: the GAP is the last node with a
// 4-D float input (N, C, h, w), h·w > 1, or a 3-D one (N, C, L), L > 1, whose output holds C values per sample equal to
// the spatial means of its input (checked on this very forward pass); from its output, weight-free nodes that keep C
// values per sample (Flatten, Reshape) are followed to a LinearLike node with a (classes, C) weight that produces the
// logits.
#include <cmath>

#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "explain/grad_cam.h"
#include "explain/point.h"
#include "explain/targets.h"

namespace xdnn::explain {
namespace {

bool is_spatial_mean(const Tensor& a, const Tensor& y) {
  const int64_t N = a.dim(0), C = a.dim(1), hw = a.numel() / (N * C);
  if (y.numel() != N * C) return false;
  const Tensor mean = ops::matmul(a.reshape({N * C, hw}), ops::full({hw, 1}, 1.0 / hw, a.dtype(), a.device()));
  // A structural check made once per model: the N·C means and values read back (ops::value_vector).
  const std::vector<double> m = ops::value_vector(mean), v = ops::value_vector(y);
  double err = 0, ref = 0;
  for (size_t i = 0; i < m.size(); ++i) {
    err = std::max(err, std::abs(m[i] - v[i]));
    ref = std::max(ref, std::abs(m[i]));
  }
  return err <= 1e-5 * std::max(ref, 1.0);
}

struct CamStructure {
  int features = -1;               // value id of A (N, C, h, w)
  const LinearLike* fc = nullptr;  // weight (classes, C)
};

CamStructure find_cam_structure(const Model& model, const Tape& tape) {
  const auto& nodes = model.nodes();
  for (int k = static_cast<int>(nodes.size()) - 1; k >= 0; --k) {
    const Node& gap = nodes[k];
    if (gap.inputs.size() != 1 || gap.outputs.size() != 1 || gap.inputs[0] < 0 || gap.outputs[0] < 0) continue;
    const Tensor& a = tape.values[gap.inputs[0]];
    const Tensor& y = tape.values[gap.outputs[0]];
    if (!a.defined() || !a.is_float() || (a.ndim() != 4 && a.ndim() != 3) || !y.defined()) continue;
    if (a.numel() / (a.dim(0) * a.dim(1)) <= 1) continue;
    if (!is_spatial_mean(a, y)) continue;
    const int64_t C = a.dim(1);
    // Follow the single consumer chain from the GAP output to a linear layer.
    int v = gap.outputs[0];
    for (int hops = 0; hops < 8; ++hops) {
      int consumer = -1, count = 0;
      for (int j = 0; j < static_cast<int>(nodes.size()); ++j)
        for (int in : nodes[j].inputs)
          if (in == v) consumer = j, ++count;
      if (count != 1) break;
      const Node& c = nodes[consumer];
      if (const LinearLike* lin = c.layer->as_linear()) {
        const Tensor& W = lin->weight();
        if (W.ndim() == 2 && W.dim(1) == C && c.outputs.size() == 1 && c.outputs[0] == logits_id(model))
          return {gap.inputs[0], lin};
        break;
      }
      const bool reshape_like = c.layer->read_params().empty() && c.outputs.size() == 1 && c.outputs[0] >= 0 &&
                                tape.values[c.outputs[0]].defined() && tape.values[c.outputs[0]].numel() == y.numel();
      if (!reshape_like) break;
      v = c.outputs[0];
    }
  }
  throw Error("cam: the model does not end in global average pooling (over (h, w) or L) followed by one linear layer",
              "use grad-cam, which works for any convolutional network");
}

Attribution cam(const ExplainRequest& req) {
  const Model& model = *req.model;
  const Tensor x = model_input(req);
  Tape tape = model.forward({x});
  const CamStructure s = find_cam_structure(model, tape);
  const Tensor& A = tape.values[s.features];
  const Tensor& W = s.fc->weight();
  const int64_t N = A.dim(0), C = A.dim(1), S = A.numel() / (N * C);
  Shape map_shape = A.shape();
  map_shape[1] = 1;
  Tensor map({N, 1, S}, A.dtype());
  for (int64_t n = 0; n < N; ++n) {
    const Tensor wk = W.slice_batch(req.targets[n], req.targets[n] + 1);  // (1, C)
    map.slice_batch(n, n + 1).copy_from(ops::matmul(wk, A.slice_batch(n, n + 1).reshape({C, S})).reshape({1, 1, S}));
  }
  map = map.reshape(map_shape);
  if (req.options.get("upsample", "false") == "true") map = upsample_map(map, x, "cam");
  return {map, "cam", req.options.values, 0};
}

MethodRegistration reg{{"cam",
                        "class activation map of a global-average-pooling network (Zhou et al. 2016)",
                        {{"upsample", "false", "resize the map to the input's height and width (bilinear)"}},
                        cam}};

}  // namespace
}  // namespace xdnn::explain
