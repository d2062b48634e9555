#include "explain/point.h"

#include <algorithm>
#include <string>

#include "engine/error.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "explain/targets.h"

namespace xdnn::explain {

Point attribution_point(const Model& model, const Tensor& input) {
  if (model.inputs().size() != 1)
    throw Error("explainers need a model with exactly one input, this one has " +
                std::to_string(model.inputs().size()));
  const int in_id = model.inputs()[0];
  if (input.is_float()) return {in_id, false};
  if (input.dtype() != DType::I64) throw Error("input: expected float32 or int64, got " + input.describe());
  // Token model: the embedding output is what the first node that reads the ids and writes a float
  // tensor produces (a Gather / Embedding). A Shape node reading the ids writes int64 and is skipped.
  Tape tape = model.forward({input});
  for (const Node& node : model.nodes()) {
    if (std::find(node.inputs.begin(), node.inputs.end(), in_id) == node.inputs.end()) continue;
    for (int out : node.outputs)
      if (out >= 0 && tape.values[out].defined() && tape.values[out].is_float()) return {out, true};
  }
  throw Error("token input: no node reads the int64 input '" + model.value_name(in_id) +
              "' and produces a float tensor (an embedding lookup)");
}

Tensor model_input(const ExplainRequest& req) {
  check_request(req);
  if (req.input.is_float()) return req.input.to(req.model->dtype());
  return req.input;
}

PointGradient gradient_at_point(const ExplainRequest& req, BackwardMode mode) {
  const Tensor x = model_input(req);
  PointGradient out;
  out.point = attribution_point(*req.model, x);
  Tape tape = req.model->forward({x});
  out.value = tape.values.at(out.point.value_id);
  out.grad = target_gradient(*req.model, tape, out.point.value_id, req.targets, mode);
  return out;
}

Tape forward_at(const Model& model, const Point& point, const Tensor& input_rows, const Tensor& value) {
  if (!point.tokens) return model.forward({value});
  return model.forward({input_rows}, {}, {{point.value_id, value}});
}

Tensor target_gradient(const Model& model, const Tape& tape, int value_id, const std::vector<int64_t>& targets,
                       BackwardMode mode) {
  const Tensor& y = tape_logits(model, tape);
  const int64_t R = y.dim(0), K = y.dim(1);
  if (static_cast<int64_t>(targets.size()) != R)
    throw Error("internal: " + std::to_string(targets.size()) + " targets for " + std::to_string(R) + " rows");
  for (int64_t r = 0; r < R; ++r)
    if (targets[r] < 0 || targets[r] >= K)
      throw Error("target " + std::to_string(targets[r]) + " is out of range for " + std::to_string(K) + " classes");
  // One-hot at each row's target: ∂(Σ_r f_{K_r}) / ∂logits, (R, K) on the logits' device.
  const Tensor seed = ops::one_hot(target_tensor(targets, y.device()), K, y.dtype());
  BackwardOptions opt;
  opt.mode = mode;
  // Only nodes after the value's producer can send a gradient to it (the nodes are in topological
  // order): the walk skips the rest, so a gradient at an inner layer (Grad-CAM) costs the backward of
  // the layers above it only, and nothing is spent on gradients no one reads.
  const int producer = model.producer(value_id);
  std::vector<Tensor> g =
      model.reverse_walk(tape, {{logits_id(model), seed}}, [&](int k, const std::vector<Tensor>& gy) {
        if (k <= producer) return std::vector<Tensor>{};
        return model.nodes()[k].layer->backward(gy, tape.saved[k], opt);
      });
  const Tensor& v = tape.values.at(value_id);
  if (g.at(value_id).defined()) return g[value_id];
  return Tensor(v.shape(), v.dtype(), v.device());
}

Tensor sum_last_axis(const Tensor& x) {
  const int64_t d = x.dim(-1);
  Shape s(x.shape().begin(), x.shape().end() - 1);
  const Tensor ones = ops::full({d, 1}, 1.0, x.dtype(), x.device());
  return ops::matmul(x.reshape({x.numel() / d, d}), ones).reshape(s);  // (rows, d) (d, 1)
}

Tensor finish_attribution(const Point& point, const Tensor& a) { return point.tokens ? sum_last_axis(a) : a; }

}  // namespace xdnn::explain
