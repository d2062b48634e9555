// Occlusion (Zeiler & Fergus 2014, §4.2; Captum's Occlusion with a sliding window), exactly as the golden
// README's §Occlusion: along each non-batch axis of size D with window w and stride s, windows start at
// k·s for k = 0..⌈(D − w)/s⌉ and cover [k·s, min(k·s + w, D)) (the last may be cut short; every element is
// covered). For every combination of starts the window is set to the baseline (--baseline, default 0),
// d = f_K(x) − f_K(x_occluded) is evaluated, and d is added to every element of the window; an element's
// attribution is the mean d over the windows that covered it.
//
// --window and --stride list one size per non-batch axis of the input ("1,5,5" for (N, 1, 28, 28)); the
// stride defaults to 1 along every axis.
// Token models occlude whole embedding vectors: the lists name the token axis only (one number), the
// window always spans the embedding dimension, and the output is (N, T).
// The occluded copies of the batch go through the model in chunks stacked along the batch axis.
#include <algorithm>

#include "engine/ops.h"
#include "explain/baseline.h"
#include "explain/copies.h"
#include "explain/options.h"
#include "explain/point.h"
#include "explain/targets.h"

namespace xdnn::explain {
namespace {

struct Box {
  std::vector<int64_t> begin, end;  // per non-batch axis
};

// Calls fn(flat index within one sample) for every element of the box, in row-major order.
template <class Fn>
void for_each_in_box(const Box& box, const Shape& dims, Fn&& fn) {
  const size_t r = dims.size();
  std::vector<int64_t> stride(r, 1), idx(box.begin);
  for (size_t a = r - 1; a > 0; --a) stride[a - 1] = stride[a] * dims[a];
  for (size_t a = 0; a < r; ++a)
    if (box.begin[a] >= box.end[a]) return;
  while (true) {
    int64_t flat = 0;
    for (size_t a = 0; a < r; ++a) flat += idx[a] * stride[a];
    fn(flat);
    size_t a = r;
    while (a > 0) {
      --a;
      if (++idx[a] < box.end[a]) break;
      idx[a] = box.begin[a];
      if (a == 0) return;
    }
  }
}

Attribution occlusion(const ExplainRequest& req) {
  const Model& model = *req.model;
  const Tensor x = model_input(req);
  const Point point = attribution_point(model, x);
  const Tape tape = model.forward({x});
  const Tensor e = tape.values.at(point.value_id);
  const std::vector<double> f_x = target_logits(tape_logits(model, tape), req.targets);
  const Tensor base = baseline_for(req.options, e).to(DType::F64).to(e.device());
  const Shape dims(e.shape().begin() + 1, e.shape().end());  // per-sample shape
  const size_t r = dims.size();

  if (!req.options.has("window") || req.options.get("window", "").empty())
    throw Error("occlusion needs --window (one size per non-batch axis, e.g. 1,5,5)");
  std::vector<int64_t> window = parse_int_list("window", req.options.get("window", ""));
  // Without --stride the windows slide by 1 along every axis (the reference library's default).
  std::vector<int64_t> stride = req.options.get("stride", "").empty()
                                    ? std::vector<int64_t>(window.size(), 1)
                                    : parse_int_list("stride", req.options.get("stride", ""));
  if (point.tokens) {  // the lists name the token axis; windows span the embedding dimension
    if (window.size() == 1) window.push_back(dims.back());
    if (stride.size() == 1) stride.push_back(dims.back());
  }
  if (window.size() != r || stride.size() != r)
    throw Error("occlusion: --window and --stride need " + std::to_string(point.tokens ? 1 : r) +
                " comma-separated sizes for input " + x.describe());
  // Window starts along each axis.
  std::vector<std::vector<int64_t>> starts(r);
  for (size_t a = 0; a < r; ++a) {
    if (window[a] < 1 || window[a] > dims[a] || stride[a] < 1)
      throw Error("occlusion: window " + std::to_string(window[a]) + " / stride " + std::to_string(stride[a]) +
                  " do not fit axis " + std::to_string(a + 1) + " of size " + std::to_string(dims[a]));
    const int64_t last = (dims[a] - window[a] + stride[a] - 1) / stride[a];  // ⌈(D − w)/s⌉
    for (int64_t k = 0; k <= last; ++k) starts[a].push_back(k * stride[a]);
  }
  std::vector<Box> boxes;
  {
    std::vector<size_t> pick(r, 0);
    while (true) {
      Box b;
      for (size_t a = 0; a < r; ++a) {
        b.begin.push_back(starts[a][pick[a]]);
        b.end.push_back(std::min(starts[a][pick[a]] + window[a], dims[a]));
      }
      boxes.push_back(b);
      size_t a = r;
      bool done = true;
      while (a > 0) {
        --a;
        if (++pick[a] < starts[a].size()) {
          done = false;
          break;
        }
        pick[a] = 0;
      }
      if (done) break;
    }
  }

  const int64_t N = e.dim(0), per = e.numel() / N, nb = static_cast<int64_t>(boxes.size());
  const Tensor e64 = e.to(DType::F64);
  std::vector<double> sum(N * per, 0.0), count(per, 0.0);
  const int64_t per_call = copies_per_call(model, e, nb);
  for (int64_t b0 = 0; b0 < nb; b0 += per_call) {
    const int64_t k = std::min(per_call, nb - b0);
    // Copy j (rows j·N .. (j+1)·N − 1) = e with box b0 + j set to the baseline: a host-built 0/1 mask of
    // the boxes (k, 1, per), selected on e's device.
    std::vector<double> in_box(static_cast<size_t>(k * per), 0.0);
    for (int64_t j = 0; j < k; ++j) for_each_in_box(boxes[b0 + j], dims, [&](int64_t i) { in_box[j * per + i] = 1.0; });
    const Tensor mask = Tensor::from_vector({k, 1, per}, in_box).to(e.device());
    const Tensor pts =
        ops::where(mask, repeat_rows(base, k).reshape({k, N, per}), repeat_rows(e64, k).reshape({k, N, per}));
    Shape pts_shape = e.shape();
    pts_shape[0] = k * N;
    const Tensor value = pts.reshape(pts_shape).to(e.dtype());
    const Tensor ids = point.tokens ? repeat_rows(x, k) : value;
    Tape t = forward_at(model, point, ids, value);
    const std::vector<double> f_occ = target_logits(tape_logits(model, t), repeat_targets(req.targets, k));
    for (int64_t j = 0; j < k; ++j) {
      for_each_in_box(boxes[b0 + j], dims, [&](int64_t i) { count[i] += 1.0; });
      for (int64_t n = 0; n < N; ++n) {
        const double d = f_x[n] - f_occ[j * N + n];
        for_each_in_box(boxes[b0 + j], dims, [&](int64_t i) { sum[n * per + i] += d; });
      }
    }
  }
  // The mean drop per element, from host numbers (the target logits read back and the box counts).
  std::vector<double> mean(static_cast<size_t>(N * per));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < per; ++i) mean[n * per + i] = sum[n * per + i] / count[i];
  Tensor out = Tensor::from_vector(e.shape(), mean).to(e.dtype()).to(e.device());
  if (point.tokens) {  // every embedding entry of a token holds the same mean; report it once per token
    const int64_t d = dims.back();
    out = ops::scale(sum_last_axis(out), 1.0 / static_cast<double>(d));
  }
  return {out, "occlusion", req.options.values, 0};
}

MethodRegistration reg{
    {"occlusion",
     "mean drop of the target logit when sliding windows are set to the baseline",
     {required_option({"window", "", "window size per non-batch axis, e.g. 1,5,5 (required)", "INT,..."}),
      {"stride", "", "stride per non-batch axis (default: 1 along every axis)", "INT,..."},
      baseline_option("0", "baseline: a number (constant) or a .npy file of the input's shape")},
     occlusion}};

}  // namespace
}  // namespace xdnn::explain
