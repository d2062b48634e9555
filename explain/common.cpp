#include "explain/common.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "engine/dispatch.h"
#include "engine/ops.h"
#include "models/io/npy.h"

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

int logits_id(const Model& model) {
  if (model.outputs().empty()) throw Error("the model has no outputs");
  return model.outputs()[0];
}

const Tensor& tape_logits(const Model& model, const Tape& tape) {
  const Tensor& y = tape.values.at(logits_id(model));
  if (!y.defined() || y.ndim() != 2 || !y.is_float())
    throw Error("model output '" + model.value_name(logits_id(model)) + "': expected float logits (N, classes), got " +
                (y.defined() ? y.describe() : std::string("nothing")));
  return y;
}

std::vector<int64_t> argmax_rows(const Tensor& logits) {
  const int64_t N = logits.dim(0), K = logits.dim(1);
  std::vector<int64_t> out(N);
  for (int64_t n = 0; n < N; ++n) {
    int64_t best = 0;
    double bv = logits.item(n * K);
    for (int64_t k = 1; k < K; ++k)
      if (logits.item(n * K + k) > bv) bv = logits.item(n * K + k), best = k;  // first index on ties
    out[n] = best;
  }
  return out;
}

std::vector<int64_t> resolve_targets(const Model& model, const Tensor& input, int64_t target) {
  // The forward passes go kRowsPerPass samples at a time (a static-batch export: its own batch size), so
  // that a data-set-sized input never holds every activation of every sample at once (2,000 Fashion-MNIST
  // images through fashion-cnn held 230 MB of tape here).
  constexpr int64_t kRowsPerPass = 256;
  const int64_t N = input.dim(0), per_pass = model.exported_batch > 0 ? model.exported_batch : kRowsPerPass;
  std::vector<int64_t> out;
  int64_t classes = 0;
  for (int64_t n0 = 0;; n0 += per_pass) {  // at least one pass, so that an empty batch still checks the logits
    const Tensor x = N <= per_pass ? input : input.slice_batch(n0, std::min(N, n0 + per_pass));
    const Tape tape = model.forward({x.is_float() && !model.takes_token_ids() ? x.to(model.dtype()) : x});
    const Tensor& y = tape_logits(model, tape);
    classes = y.dim(1);
    if (target >= classes)
      throw Error("--target " + std::to_string(target) + " is out of range: the model has " + std::to_string(classes) +
                  " classes (0.." + std::to_string(classes - 1) + ")");
    if (target < 0) {
      const std::vector<int64_t> part = argmax_rows(y);
      out.insert(out.end(), part.begin(), part.end());
    } else {
      out.insert(out.end(), y.dim(0), target);
    }
    if (n0 + per_pass >= N) break;
  }
  return out;
}

void check_request(const ExplainRequest& req) {
  if (!req.model) throw Error("explain: no model given");
  if (!req.input.defined()) throw Error("explain: no input given");
  if (req.input.ndim() < 2) throw Error("input: expected a batch (N, ...), got " + req.input.describe());
  if (static_cast<int64_t>(req.targets.size()) != req.input.dim(0))
    throw Error("explain: " + std::to_string(req.targets.size()) + " targets for " + std::to_string(req.input.dim(0)) +
                " samples");
  for (int64_t t : req.targets)
    if (t < 0) throw Error("explain: negative target " + std::to_string(t));
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
  Tensor seed(y.shape(), y.dtype());  // one-hot at each row's target: ∂(Σ_r f_{K_r}) / ∂logits
  for (int64_t r = 0; r < R; ++r) {
    if (targets[r] < 0 || targets[r] >= K)
      throw Error("target " + std::to_string(targets[r]) + " is out of range for " + std::to_string(K) + " classes");
    seed.set_item(r * K + targets[r], 1.0);
  }
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
  return Tensor(v.shape(), v.dtype());
}

std::vector<double> target_logits(const Tensor& logits, const std::vector<int64_t>& targets) {
  const int64_t R = logits.dim(0), K = logits.dim(1);
  std::vector<double> out(R);
  for (int64_t r = 0; r < R; ++r) out[r] = logits.item(r * K + targets.at(r));
  return out;
}

Tensor repeat_rows(const Tensor& x, int64_t times) {
  const int64_t N = x.dim(0);
  Shape s = x.shape();
  s[0] = N * times;
  Tensor out(s, x.dtype());
  for (int64_t j = 0; j < times; ++j) out.slice_batch(j * N, (j + 1) * N).copy_from(x);
  return out;
}

std::vector<int64_t> repeat_targets(const std::vector<int64_t>& targets, int64_t times) {
  std::vector<int64_t> out;
  out.reserve(targets.size() * times);
  for (int64_t j = 0; j < times; ++j) out.insert(out.end(), targets.begin(), targets.end());
  return out;
}

int64_t copies_per_call(const Model& model, int64_t N, int64_t total_copies) {
  if (model.exported_batch > 0) return 1;
  // About 32 rows per model call: the per-call overhead is already small there, and the activations of
  // one layer stay in the L2 cache (fashion-cnn, 1 thread: integrated gradients at batch 32 takes 111 ms
  // with 32-row calls, 142 ms with 128-row calls; occlusion 126 vs 148 ms).
  const int64_t rows = 32;
  return std::clamp<int64_t>(rows / std::max<int64_t>(N, 1), 1, std::max<int64_t>(total_copies, 1));
}

Tensor sum_last_axis(const Tensor& x) {
  const int64_t d = x.dim(-1);
  Shape s(x.shape().begin(), x.shape().end() - 1);
  Tensor ones = Tensor::full({d, 1}, 1.0, x.dtype());
  return ops::matmul(x.reshape({x.numel() / d, d}), ones).reshape(s);  // (rows, d) (d, 1)
}

Tensor finish_attribution(const Point& point, const Tensor& a) { return point.tokens ? sum_last_axis(a) : a; }

Tensor baseline_for(const Options& options, const Tensor& like) {
  const std::string text = options.get("baseline", "0");
  if (text.empty()) return Tensor(like.shape(), like.dtype());
  const char* s = text.c_str();
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s, &end);
  if (end != s && *end == '\0' && errno != ERANGE) return Tensor::full(like.shape(), v, like.dtype());
  Tensor b = load_npy(text);
  if (!b.is_float()) throw Error("--baseline " + text + ": expected a float array, got " + b.describe());
  b = b.to(like.dtype());
  if (b.shape() == like.shape()) return b;
  Shape per_sample(like.shape().begin() + 1, like.shape().end());
  if (b.shape() == per_sample) {
    Shape one{1};
    one.insert(one.end(), per_sample.begin(), per_sample.end());
    return repeat_rows(b.reshape(one), like.dim(0));
  }
  throw Error("--baseline " + text + ": expected shape " + shape_str(like.shape()) + " or " + shape_str(per_sample) +
              ", got " + shape_str(b.shape()));
}

std::vector<int64_t> parse_int_list(const std::string& option, const std::string& text) {
  std::vector<int64_t> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const char* s = item.c_str();
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s, &end, 10);
    if (item.empty() || end == s || *end != '\0' || errno == ERANGE)
      throw Error("--" + option + " " + text + ": expected comma-separated integers such as 1,5,5");
    out.push_back(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

Tensor resize_matrix(int64_t out, int64_t in, DType dtype) {
  Tensor m({out, in}, dtype);
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int64_t y = 0; y < out; ++y) {
    double s = std::max((static_cast<double>(y) + 0.5) * scale - 0.5, 0.0);
    int64_t y0 = std::min(static_cast<int64_t>(std::floor(s)), in - 1);
    int64_t y1 = std::min(y0 + 1, in - 1);
    double lambda = s - static_cast<double>(y0);
    m.set_item(y * in + y0, m.item(y * in + y0) + (1.0 - lambda));
    m.set_item(y * in + y1, m.item(y * in + y1) + lambda);
  }
  return m;
}

Tensor upsample_bilinear(const Tensor& cam, int64_t H, int64_t W) {
  if (cam.ndim() != 4 || cam.dim(1) != 1) throw Error("upsample: expected a map (N, 1, h, w), got " + cam.describe());
  const int64_t N = cam.dim(0), h = cam.dim(2), w = cam.dim(3);
  const Tensor ry = resize_matrix(H, h, cam.dtype());  // (H, h)
  const Tensor rx = resize_matrix(W, w, cam.dtype());  // (W, w)
  Tensor out({N, 1, H, W}, cam.dtype());
  for (int64_t n = 0; n < N; ++n) {
    // out_n = Ry · cam_n · Rxᵀ: rows first, then columns — each output is (1−λy)(1−λx)a + ... as in the
    // reference's separable interpolation.
    Tensor t = ops::matmul(ry, cam.slice_batch(n, n + 1).reshape({h, w}));  // (H, w)
    out.slice_batch(n, n + 1).copy_from(ops::matmul(t, rx, false, true).reshape({1, 1, H, W}));
  }
  return out;
}

}  // namespace xdnn::explain
