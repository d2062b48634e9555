// Linear probes on a model's layers (linear_probe.h): which values can be probed, their activations over a
// data set, and the per-layer table for image and token models.
#include <algorithm>

#include "engine/check.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "explain/global/linear_probe.h"

namespace xdnn::explain {

namespace {

constexpr int64_t kForwardChunk = 500;

int64_t rows_per_call(const Model& model, int64_t n) {
  return model.exported_batch > 0 ? model.exported_batch : std::min(n, kForwardChunk);
}

// A value a probe can read: float, computed by a node (or the input), one row per sample; for token models
// (steps > 0) also a position axis of length `steps` after the batch axis.
bool probeable(const Model& model, const Tape& tape, int id, int64_t rows, int64_t steps) {
  const Tensor& v = tape.values[static_cast<size_t>(id)];
  const auto& in = model.inputs();
  const bool made = model.producer(id) >= 0 || std::find(in.begin(), in.end(), id) != in.end();
  if (!made || !v.defined() || !v.is_float() || v.ndim() < 1 || v.dim(0) != rows) return false;
  return steps == 0 || (v.ndim() >= 3 && v.dim(1) == steps);
}

std::vector<std::string> layer_names_for(const Model& model, const Tensor& data, const std::vector<std::string>& layers,
                                         int64_t steps) {
  check(data.defined() && data.ndim() >= 1 && data.dim(0) >= 1, "probe: no data to probe on");
  for (const auto& name : layers) model.value_id(name);  // unknown names fail before any forward pass
  const int64_t rows = rows_per_call(model, std::min<int64_t>(data.dim(0), 2));
  check(data.dim(0) >= rows, "probe: the model takes batches of " + std::to_string(rows) + " rows");
  const Tape tape = model.forward({data.slice_batch(0, rows)});
  std::vector<std::string> out;
  if (layers.empty()) {
    for (int id = 0; id < model.num_values(); ++id)
      if (probeable(model, tape, id, rows, steps)) out.push_back(model.value_name(id));
    check(!out.empty(), "probe: the model has no value a probe can read on this input");
    return out;
  }
  for (const auto& name : layers) {
    const int id = model.value_id(name);
    if (!probeable(model, tape, id, rows, steps)) {
      const Tensor& v = tape.values[static_cast<size_t>(id)];
      throw Error("probe: layer '" + name + "' is " + (v.defined() ? v.describe() : std::string("not computed")) +
                      ", expected float activations with one row per " + (steps ? "position (N, T, ...)" : "sample"),
                  "omit --layers to probe every layer that qualifies");
    }
    out.push_back(name);
  }
  return out;
}

std::vector<int64_t> iota_rows(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
  return v;
}

}  // namespace

std::vector<std::string> probe_layer_names(const Model& model, const Tensor& data,
                                           const std::vector<std::string>& layers) {
  return layer_names_for(model, data, layers, 0);
}

std::vector<Tensor> collect_activations(const Model& model, const Tensor& data, const std::vector<std::string>& names) {
  const int64_t N = data.dim(0), chunk = rows_per_call(model, N);
  std::vector<int> ids;
  for (const auto& name : names) ids.push_back(model.value_id(name));
  std::vector<Tensor> out(names.size());
  for (int64_t b = 0; b < N; b += chunk) {
    const int64_t e = std::min(N, b + chunk);
    if (e - b != chunk && model.exported_batch > 0)
      throw Error("probe: the model was exported for batches of " + std::to_string(chunk) + " rows and " +
                  std::to_string(N) + " is not a multiple of it");
    const Tape tape = model.forward({data.slice_batch(b, e)});
    for (size_t i = 0; i < ids.size(); ++i) {
      const Tensor& v = tape.values[static_cast<size_t>(ids[i])];
      if (!v.defined() || v.ndim() < 1 || v.dim(0) != e - b)
        throw Error("probe: layer '" + names[i] + "' has no row per sample on this input");
      const int64_t F = v.numel() / (e - b);
      if (!out[i].defined()) out[i] = Tensor::empty({N, F}, DType::F32, v.device());
      check(out[i].dim(1) == F, "probe: layer '" + names[i] + "' changes size between batches");
      out[i].slice_batch(b, e).copy_from(v.to(DType::F32).reshape({e - b, F}));
    }
  }
  return out;
}

std::vector<ProbeScore> probe_layers(const Model& model, const Tensor& data, const std::vector<int64_t>& labels,
                                     const std::vector<std::string>& layers, const ProbeOptions& opt) {
  check(static_cast<int64_t>(labels.size()) == data.dim(0),
        "probe: " + std::to_string(labels.size()) + " labels for " + data.describe() + ", expected one per sample");
  const std::vector<std::string> names = probe_layer_names(model, data, layers);
  const std::vector<Tensor> acts = collect_activations(model, data, names);
  // Every image is its own type (no two inputs share an identity), so the control task's labels are
  // random per image: a probe can only score above chance on held-out images by reading the input.
  const std::vector<int64_t> rows = iota_rows(data.dim(0));
  std::vector<ProbeScore> out;
  for (size_t i = 0; i < names.size(); ++i) out.push_back(probe_features(acts[i], labels, rows, rows, opt, names[i]));
  return out;
}

std::vector<ProbeScore> probe_token_layers(const Model& model, const Tensor& ids, const std::vector<int64_t>& lengths,
                                           const std::vector<int64_t>& row_labels,
                                           const std::vector<std::string>& layers, const ProbeOptions& opt) {
  check(ids.defined() && ids.dtype() == DType::I64 && ids.ndim() == 2,
        "probe: expected token ids int64 (N, T), got " + (ids.defined() ? ids.describe() : std::string("nothing")));
  const int64_t N = ids.dim(0), T = ids.dim(1);
  check(static_cast<int64_t>(lengths.size()) == N, "probe: one length per sample expected");
  // The word types come back to the host (ops::index_vector): the control task draws a label per type, serially
  // in order of first appearance (control_task_labels). The valid positions n·T + t select the rows.
  const std::vector<int64_t> tok = ops::index_vector(ids);
  std::vector<int64_t> types, groups, positions;
  for (int64_t n = 0; n < N; ++n) {
    check(lengths[n] >= 1 && lengths[n] <= T, "probe: sample " + std::to_string(n) + " has length " +
                                                  std::to_string(lengths[n]) + ", expected 1.." + std::to_string(T));
    for (int64_t t = 0; t < lengths[n]; ++t) {
      types.push_back(tok[static_cast<size_t>(n * T + t)]);  // Hewitt & Liang's word type: the token here
      groups.push_back(n);
      positions.push_back(n * T + t);
    }
  }
  check(row_labels.size() == types.size(), "probe: " + std::to_string(row_labels.size()) + " position labels for " +
                                               std::to_string(types.size()) + " positions");
  const std::vector<std::string> names = layer_names_for(model, ids, layers, T);
  const std::vector<Tensor> acts = collect_activations(model, ids, names);
  std::vector<ProbeScore> out;
  for (size_t i = 0; i < names.size(); ++i) {
    const int64_t F = acts[i].dim(1) / T;  // features per position
    // Rows (positions, F): the valid positions of the (N·T, F) activations, gathered on their device.
    const Tensor at = Tensor::from_vector({static_cast<int64_t>(positions.size())}, positions).to(acts[i].device());
    const Tensor rows = ops::gather_axis(acts[i].reshape({N * T, F}), at, 0);
    out.push_back(probe_features(rows, row_labels, types, groups, opt, names[i]));
  }
  return out;
}

}  // namespace xdnn::explain
