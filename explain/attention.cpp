// Attention maps and attention rollout (explain/attention.h), and the methods `attention` and
// `attention-rollout`.
#include "explain/attention.h"

#include <cerrno>
#include <cstdlib>

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
      out.push_back({node.name, p.to(Device::CPU).to(DType::F64)});
    }
    // ONNX exports: the attention softmax over (N·h, T, T) or (N, h, T, T) scores.
    if (std::string(node.layer->kind()) != "Softmax" || node.outputs.size() != 1) continue;
    const Tensor& y = tape.values.at(node.outputs[0]);
    if (!y.defined() || !y.is_float()) continue;
    if (y.ndim() == 3 && y.dim(1) == T && y.dim(2) == T && y.dim(0) % N == 0)
      out.push_back({node.name, y.reshape({N, y.dim(0) / N, T, T}).to(Device::CPU).to(DType::F64)});
    else if (y.ndim() == 4 && y.dim(0) == N && y.dim(2) == T && y.dim(3) == T)
      out.push_back({node.name, y.to(Device::CPU).to(DType::F64)});
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

Tensor attention_rollout(const std::vector<AttentionMap>& maps) {
  if (maps.empty()) throw Error("attention rollout: no attention maps");
  const int64_t N = maps[0].probs.dim(0), T = maps[0].probs.dim(2);
  Tensor out({N, T, T}, DType::F64);
  double* o = out.data<double>();
  std::vector<double> a(T * T), r(T * T), next(T * T);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t i = 0; i < T * T; ++i) r[i] = (i / T == i % T) ? 1.0 : 0.0;
    for (const AttentionMap& m : maps) {
      const int64_t h = m.probs.dim(1);
      const double* p = m.probs.data<double>() + n * h * T * T;
      // Ã = rownorm(½ mean_heads(A) + ½ I): (T, T), heads summed in index order.
      for (int64_t i = 0; i < T * T; ++i) {
        double s = 0;
        for (int64_t head = 0; head < h; ++head) s += p[head * T * T + i];
        a[i] = 0.5 * s / static_cast<double>(h) + (i / T == i % T ? 0.5 : 0.0);
      }
      for (int64_t i = 0; i < T; ++i) {
        double s = 0;
        for (int64_t j = 0; j < T; ++j) s += a[i * T + j];
        for (int64_t j = 0; j < T; ++j) a[i * T + j] /= s;
      }
      // R ← Ã · R: later layers multiply on the left.
      for (int64_t i = 0; i < T; ++i)
        for (int64_t j = 0; j < T; ++j) {
          double s = 0;
          for (int64_t k = 0; k < T; ++k) s += a[i * T + k] * r[k * T + j];
          next[i * T + j] = s;
        }
      r.swap(next);
    }
    for (int64_t i = 0; i < T * T; ++i) o[n * T * T + i] = r[i];
  }
  return out;
}

std::vector<char> attended_tokens(const std::vector<AttentionMap>& maps) {
  if (maps.empty()) return {};
  const Tensor& p = maps[0].probs;  // (N, h, T, T)
  const int64_t N = p.dim(0), h = p.dim(1), T = p.dim(2);
  const double* v = p.data<double>();
  std::vector<char> valid(N * T, 0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < h; ++k)
      for (int64_t i = 0; i < T; ++i)
        for (int64_t t = 0; t < T; ++t)
          if (v[((n * h + k) * T + i) * T + t] != 0.0) valid[n * T + t] = 1;
  return valid;
}

Tensor query_row(const Tensor& m, const std::string& query, const std::vector<char>& valid) {
  const int64_t N = m.dim(0), T = m.dim(1);
  const Tensor m64 = m.to(DType::F64);
  const double* p = m64.data<double>();
  Tensor out({N, T}, DType::F64);
  int64_t q = -1;
  if (query == "first") {
    q = 0;
  } else if (query == "last") {
    q = T - 1;
  } else if (query != "mean") {
    const char* s = query.c_str();
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s, &end, 10);
    if (query.empty() || end == s || *end != '\0' || errno == ERANGE || v < 0 || v >= T)
      throw Error("--query '" + query + "': expected mean, first, last or a position 0.." + std::to_string(T - 1));
    q = v;
  }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t t = 0; t < T; ++t) {
      double s = 0;
      if (q >= 0) {
        s = p[(n * T + q) * T + t];
      } else {
        double rows = 0;
        for (int64_t i = 0; i < T; ++i) {
          if (!valid.empty() && !valid[n * T + i]) continue;
          s += p[(n * T + i) * T + t];
          rows += 1;
        }
        s = rows > 0 ? s / rows : 0.0;
      }
      out.set_item(n * T + t, s);
    }
  return out;
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
  Tensor out({N, T, T}, DType::F64);
  int64_t pick = -1;
  if (head != "mean") {
    const char* s = head.c_str();
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s, &end, 10);
    if (head.empty() || end == s || *end != '\0' || errno == ERANGE || v < 0 || v >= h)
      throw Error("--head '" + head + "': expected mean or a head 0.." + std::to_string(h - 1) + " of node '" +
                  maps[l].node + "'");
    pick = v;
  }
  const double* src = p.data<double>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < T * T; ++i) {
      double s = 0;
      if (pick >= 0) {
        s = src[(n * h + pick) * T * T + i];
      } else {
        for (int64_t k = 0; k < h; ++k) s += src[(n * h + k) * T * T + i];
        s /= static_cast<double>(h);
      }
      out.set_item(n * T * T + i, s);
    }
  return out;
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
  const Tensor values = query_row(m, req.options.get("query", "mean"), attended_tokens(maps)).to(DType::F32);
  return {values, "attention", req.options.values, 0};
}

Attribution run_rollout(const ExplainRequest& req) {
  const Tensor ids = ids_of(req);
  const std::vector<AttentionMap> maps = attention_maps(*req.model, ids);
  const Tensor r = attention_rollout(maps);
  return {query_row(r, req.options.get("query", "mean"), attended_tokens(maps)).to(DType::F32), "attention-rollout",
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
