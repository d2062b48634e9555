#include "explain/targets.h"

#include <algorithm>
#include <string>

#include "engine/error.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"

namespace xdnn::explain {

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

std::vector<int64_t> per_sample_targets(const Model& model, const Tensor& input, const Tensor& labels,
                                        const std::string& what) {
  const int64_t N = input.dim(0);
  if (labels.dtype() != DType::I64 || labels.ndim() != 1 || labels.dim(0) != N)
    throw Error(what + ": " + labels.describe() + ", expected int64 or int32 (" + std::to_string(N) +
                ",): one class per sample of the input");
  // The class count from one forward pass of the first rows (a static-batch export: its own batch size).
  const int64_t rows = std::min<int64_t>(N, model.exported_batch > 0 ? model.exported_batch : 1);
  int64_t classes = 0;
  if (rows > 0) {
    const Tensor x = input.slice_batch(0, rows);
    const Tape tape = model.forward({x.is_float() && !model.takes_token_ids() ? x.to(model.dtype()) : x});
    classes = tape_logits(model, tape).dim(1);
  }
  std::vector<int64_t> out(static_cast<size_t>(N));
  const std::vector<int64_t> given = ops::index_vector(labels);
  for (int64_t n = 0; n < N; ++n) {
    const int64_t t = given[static_cast<size_t>(n)];
    if (t < 0 || t >= classes)
      throw Error(what + ": element " + std::to_string(n) + " is " + std::to_string(t) +
                  ", out of range: the model has " + std::to_string(classes) + " classes (0.." +
                  std::to_string(classes - 1) + ")");
    out[static_cast<size_t>(n)] = t;
  }
  return out;
}

Tensor target_tensor(const std::vector<int64_t>& targets, Device device) {
  return Tensor::from_vector({static_cast<int64_t>(targets.size())}, targets).to(device);
}

std::vector<int64_t> argmax_rows(const Tensor& logits) {
  return ops::index_vector(ops::argmax_last_axis(logits));  // first index on ties
}

std::vector<double> target_logits(const Tensor& logits, const std::vector<int64_t>& targets) {
  const int64_t R = logits.dim(0);
  if (static_cast<int64_t>(targets.size()) != R)
    throw Error("internal: " + std::to_string(targets.size()) + " targets for " + std::to_string(R) + " rows");
  // Each row's target logit: the row of the kept-target seed summed (its other entries are +0, so exact).
  return ops::value_vector(
      ops::sum_to_shape(ops::keep_targets(logits, target_tensor(targets, logits.device())), {R, 1}));
}

}  // namespace xdnn::explain
