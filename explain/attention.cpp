// Attention maps and attention rollout (explain/attention.h), and the methods `attention` and
// `attention-rollout`.
#include "explain/attention.h"

#include <cerrno>
#include <cstdlib>

#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/ops_onnx.h"
#include "explain/method.h"
#include "explain/targets.h"

namespace xdnn::explain {

namespace {

void check_ids(const Tensor& ids) {
  if (!ids.defined() || ids.dtype() != DType::I64 || ids.ndim() != 2)
    throw Error("attention: expected int64 token ids (N, T), got " +
                (ids.defined() ? ids.describe() : std::string("nothing")));
}

}  // namespace

std::vector<AttentionMap> attention_maps(const Model& model, const Tape& tape, int64_t N, int64_t T) {
  std::vector<AttentionMap> out;
  const auto& nodes = model.nodes();
  for (size_t k = 0; k < nodes.size(); ++k) {
    const Node& node = nodes[k];
    for (const NamedValue& v : node.layer->intermediates(tape.saved.at(k))) {
      if (v.name != "attention") continue;
      const Tensor& p = v.value;
      if (p.ndim() != 4 || p.dim(0) != N || p.dim(2) != T || p.dim(3) != T)
        throw Error("node '" + node.name + "': attention map " + p.describe() + " is not (N, h, " + std::to_string(T) +
                    ", " + std::to_string(T) + ")");
      out.push_back({node.name, p.to(DType::F64)});
    }
    // ONNX exports: the attention softmax over (N·h, T, T) or (N, h, T, T) scores.
    if (std::string(node.layer->kind()) != "Softmax" || node.outputs.size() != 1) continue;
    const Tensor& y = tape.values.at(node.outputs[0]);
    if (!y.defined() || !y.is_float()) continue;
    if (y.ndim() == 3 && y.dim(1) == T && y.dim(2) == T && y.dim(0) % N == 0)
      out.push_back({node.name, y.reshape({N, y.dim(0) / N, T, T}).to(DType::F64)});
    else if (y.ndim() == 4 && y.dim(0) == N && y.dim(2) == T && y.dim(3) == T)
      out.push_back({node.name, y.to(DType::F64)});
  }
  return out;
}

std::vector<AttentionMap> attention_maps(const Model& model, const Tensor& ids) {
  check_ids(ids);
  const Tape tape = model.forward({ids});
  std::vector<AttentionMap> maps = attention_maps(model, tape, ids.dim(0), ids.dim(1));
  if (maps.empty())
    throw Error(
        "attention: the model has no attention layer (no node reports an \"attention\" value and no "
        "Softmax node produces (N·heads, T, T) with T = " +
        std::to_string(ids.dim(1)) + ")");
  return maps;
}

namespace {

// A scalar of the computation as a one-element float64 tensor on `device` (broadcast by the binary ops).
Tensor scalar_on(double value, Device device) { return ops::full({1}, value, DType::F64, device); }

// The query parsed: a row 0..T−1, or −1 for the mean of the rows.
int64_t parse_query(const std::string& query, int64_t T) {
  if (query == "first") return 0;
  if (query == "last") return T - 1;
  if (query == "mean") return -1;
  const char* s = query.c_str();
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s, &end, 10);
  if (query.empty() || end == s || *end != '\0' || errno == ERANGE || v < 0 || v >= T)
    throw Error("--query '" + query + "': expected mean, first, last or a position 0.." + std::to_string(T - 1));
  return static_cast<int64_t>(v);
}

}  // namespace

Tensor attention_rollout(const std::vector<AttentionMap>& maps) {
  if (maps.empty()) throw Error("attention rollout: no attention maps");
  const Tensor& first = maps[0].probs;
  const int64_t N = first.dim(0), T = first.dim(2);
  const Device device = first.device();
  // ½ I (T, T), added to every sample's head mean (broadcast over N).
  std::vector<double> half_identity(static_cast<size_t>(T * T), 0.0);
  for (int64_t i = 0; i < T; ++i) half_identity[static_cast<size_t>(i * T + i)] = 0.5;
  const Tensor half_eye = Tensor::from_vector({T, T}, half_identity).to(device);
  Tensor r;  // (N, T, T): Ã_l · … · Ã_1 so far
  for (const AttentionMap& m : maps) {
    const int64_t h = m.probs.dim(1);
    // Ã = rownorm(½ mean_heads(A) + ½ I): heads summed in index order, (½ Σ) / h, then each row divided by
    // its sum (columns in index order).
    const Tensor heads = ops::reduce_axes(ops::ReduceOp::Sum, m.probs, {N, 1, T, T})[0].reshape({N, T, T});
    const Tensor a = ops::add(ops::div(ops::scale(heads, 0.5), scalar_on(static_cast<double>(h), device)), half_eye);
    const Tensor rows = ops::reduce_axes(ops::ReduceOp::Sum, a, {N, T, 1})[0];
    const Tensor tilde = ops::div(a, rows);
    // R ← Ã · R: later layers multiply on the left (the first layer's Ã is R = Ã_1 · I itself).
    r = r.defined() ? ops::batched_matmul(tilde, r) : tilde;
  }
  return r;
}

Tensor attended_mask(const std::vector<AttentionMap>& maps) {
  if (maps.empty()) return Tensor();
  const Tensor& p = maps[0].probs;  // (N, h, T, T)
  const int64_t N = p.dim(0), T = p.dim(2);
  // Key t is attended when some head's column t has a non-zero entry: the largest |A| of the column is
  // non-zero (a NaN counts, as != 0 does).
  const Tensor largest = ops::reduce_axes(ops::ReduceOp::Max, ops::unary(ops::Unary::Abs, p), {N, 1, 1, T})[0];
  return ops::where(largest.reshape({N, T}), scalar_on(1.0, p.device()), scalar_on(0.0, p.device()));
}

std::vector<char> attended_tokens(const std::vector<AttentionMap>& maps) {
  if (maps.empty()) return {};
  const std::vector<double> mask = ops::value_vector(attended_mask(maps));
  std::vector<char> valid(mask.size());
  for (size_t i = 0; i < mask.size(); ++i) valid[i] = mask[i] != 0.0 ? 1 : 0;
  return valid;
}

Tensor query_row(const Tensor& m, const std::string& query, const Tensor& valid) {
  const int64_t N = m.dim(0), T = m.dim(1);
  const Tensor m64 = m.to(DType::F64);
  const int64_t q = parse_query(query, T);
  if (q >= 0) return ops::strided_slice(m64, {0, q, 0}, {1, 1, 1}, {N, 1, T}).reshape({N, T});
  // The mean of the valid rows: Σ_i w_i m[i, :] over the rows in index order (w 0/1: the left-out rows add
  // +0), divided by Σ w; 0 where no row is valid.
  const Tensor w = valid.defined() ? valid.to(DType::F64) : ops::full({N, T}, 1.0, DType::F64, m.device());
  const Tensor sums = ops::reduce_axes(ops::ReduceOp::Sum, ops::mul(m64, w.reshape({N, T, 1})), {N, 1, T})[0];
  const Tensor rows = ops::reduce_axes(ops::ReduceOp::Sum, w, {N, 1})[0];  // (N, 1)
  return ops::where(rows, ops::div(sums.reshape({N, T}), rows), scalar_on(0.0, m.device()));
}

namespace {

// The head-mean (or one head) of map `layer` (negative counts from the last): (N, T, T).
Tensor select_map(const std::vector<AttentionMap>& maps, int64_t layer, const std::string& head) {
  const int64_t L = static_cast<int64_t>(maps.size());
  const int64_t l = layer < 0 ? L + layer : layer;
  if (l < 0 || l >= L)
    throw Error("--attention-layer " + std::to_string(layer) + " is out of range: the model has " + std::to_string(L) +
                " attention map(s) (0.." + std::to_string(L - 1) + ", or -1 for the last)");
  const Tensor& p = maps[l].probs;  // (N, h, T, T)
  const int64_t N = p.dim(0), h = p.dim(1), T = p.dim(2);
  if (head == "mean")  // heads summed in index order, then divided by h
    return ops::div(ops::reduce_axes(ops::ReduceOp::Sum, p, {N, 1, T, T})[0],
                    scalar_on(static_cast<double>(h), p.device()))
        .reshape({N, T, T});
  const char* s = head.c_str();
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s, &end, 10);
  if (head.empty() || end == s || *end != '\0' || errno == ERANGE || v < 0 || v >= h)
    throw Error("--head '" + head + "': expected mean or a head 0.." + std::to_string(h - 1) + " of node '" +
                maps[l].node + "'");
  return ops::strided_slice(p, {0, static_cast<int64_t>(v), 0, 0}, {1, 1, 1, 1}, {N, 1, T, T}).reshape({N, T, T});
}

Tensor ids_of(const ExplainRequest& req) {
  check_request(req);
  check_ids(req.input);
  return req.input;
}

Attribution run_attention(const ExplainRequest& req) {
  const Tensor ids = ids_of(req);
  const std::vector<AttentionMap> maps = attention_maps(*req.model, ids);
  const std::string dir = req.options.get("png-dir", "");
  if (!dir.empty()) {
    const std::string vocab_path = req.options.get("vocab", "");
    write_attention_pngs(dir, maps, ids,
                         vocab_path.empty() ? std::vector<std::string>{} : load_vocabulary_tokens(vocab_path));
  }
  const Tensor m = select_map(maps, req.options.get_int("attention-layer", -1), req.options.get("head", "mean"));
  const Tensor values = query_row(m, req.options.get("query", "mean"), attended_mask(maps)).to(DType::F32);
  return {values, "attention", req.options.values, 0};
}

Attribution run_rollout(const ExplainRequest& req) {
  const Tensor ids = ids_of(req);
  const std::vector<AttentionMap> maps = attention_maps(*req.model, ids);
  const Tensor r = attention_rollout(maps);
  return {query_row(r, req.options.get("query", "mean"), attended_mask(maps)).to(DType::F32), "attention-rollout",
          req.options.values, 0};
}

MethodRegistration reg_attention{
    {"attention",
     "raw attention weights of one layer for a query position (token models; ignores the target class)",
     {{"query", "mean",
       "query position whose attention row is returned: mean (of the non-padding rows), first, last or an index",
       "mean|first|last|INT"},
      {"attention-layer", "-1", "which attention layer, 0 = nearest the input, -1 = the last"},
      {"head", "mean", "mean over heads, or one head's index", "mean|INT"},
      {"png-dir", "", "also write one PNG per sample, layer and head (and the head mean) into this directory", "DIR"},
      {"vocab", "", "vocabulary JSON ({\"tokens\": [...]}) for token labels in the PNGs (default: ids)", "FILE"}},
     run_attention}};

MethodRegistration reg_rollout{
    {"attention-rollout",
     "attention rollout (Abnar & Zuidema 2020): product over layers of rownorm(0.5 mean_heads A + 0.5 I); "
     "ignores the target class",
     {{"query", "mean",
       "query position whose rollout row is returned: mean (of the non-padding rows), first, last or an index",
       "mean|first|last|INT"}},
     run_rollout}};

}  // namespace
}  // namespace xdnn::explain
