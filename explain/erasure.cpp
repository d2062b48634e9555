// Representation erasure (Li, Monroe & Jurafsky 2016, "Understanding Neural Networks through
// Representation Erasure", §3 eq. 1 and §5): the importance of token t is how much the model's score
// for the target class K drops when t is erased,
//   R_t = S_K(x) − S_K(x with token t erased),
// with the score S (--score)
//   log-prob   log softmax(f(x))_K (default; the paper's log-likelihood of the correct label),
//   prob       softmax(f(x))_K,
//   logit      f_K(x) (then `erasure --erase zero` equals occlusion with a one-token window),
// and the erasure (--erase)
//   zero       the token's embedding output is set to 0 (the embedding of explain/point.h, before
//              positional embeddings are added downstream; the paper's "erase the word vector"),
//   pad        the token id is replaced by --pad-id (default 0, the <pad> id of models/text), so the
//              model sees its padding embedding (models whose lengths end at the last non-pad id, as
//              models/zoo's text models, read a pad inside the sequence as a token),
//   remove     the token is deleted and the sequence is one shorter (the paper's word removal; needs a
//              model that accepts shorter sequences).
//
// `erasure-flip`: the smallest set of tokens whose erasure changes the prediction, searched greedily
// (the paper's §5 finds it with reinforcement learning; greedy is the usual practical search): starting
// from nothing erased, erase the not-yet-erased token whose additional erasure lowers S_K the most (first
// position on ties), re-evaluate, and stop as soon as the argmax class is no longer K (K = --target, by
// default the predicted class). The output (N, T) ranks the erased tokens: with a set of size k the token
// erased at step j gets k − j + 1, tokens outside the set 0. At most T − 1 tokens are erased (one always
// stays); a sample whose prediction never changes reports set size −1 and flipped class −1, its values
// then rank all T − 1 erasures. Set sizes, flipped classes and positions are in the Attribution's
// parameters and, with --summary FILE, in a JSON file.
//
// Token models only (int64 ids (N, T)). The erased copies of the batch go through the model stacked along
// the batch axis in chunks of at most 128 rows (of Model::exported_batch rows for a graph exported for a
// fixed batch size); every row is computed from its own sample.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/file_io.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "explain/point.h"
#include "explain/targets.h"

namespace xdnn::explain {
namespace {

enum class Score { LogProb, Prob, Logit };
enum class Erase { Zero, Pad, Remove };

Score parse_score(const std::string& s) {
  if (s == "log-prob") return Score::LogProb;
  if (s == "prob") return Score::Prob;
  if (s == "logit") return Score::Logit;
  throw Error("--score '" + s + "': expected log-prob, prob or logit");
}

Erase parse_erase(const std::string& s) {
  if (s == "zero") return Erase::Zero;
  if (s == "pad") return Erase::Pad;
  if (s == "remove") return Erase::Remove;
  throw Error("--erase '" + s + "': expected zero, pad or remove");
}

// One model row: sample `sample` with the tokens marked in `erased` erased.
struct Row {
  int64_t sample;
  std::vector<char> erased;  // (T)
};

struct Eraser {
  const Model& model;
  Point point;
  Tensor ids;  // (N, T) int64, the input on the model's device
  Tensor emb;  // (N, T, d) embedding output of the unerased input (--erase zero), on the model's device
  Erase erase;
  int64_t pad_id;
  Device device;  // the model's: the erased rows are gathered there from ids / emb

  // Logits (rows.size(), K) of the rows, as doubles. Rows of one call to the model have the same number
  // of erased tokens (needed for --erase remove); consecutive such rows share a call.
  std::vector<std::vector<double>> logits(const std::vector<Row>& rows) const {
    std::vector<std::vector<double>> out;
    const int64_t N = ids.dim(0), T = ids.dim(1);
    const Tensor flat_ids = ids.reshape({N * T});
    size_t r0 = 0;
    while (r0 < rows.size()) {
      const auto count = [](const Row& r) { return std::count(r.erased.begin(), r.erased.end(), 1); };
      size_t r1 = r0 + 1;
      // At most 128 rows a call; a graph exported for a fixed batch size gets calls of that many rows.
      const size_t max_rows = model.exported_batch > 0 ? static_cast<size_t>(model.exported_batch) : 128;
      while (r1 < rows.size() && r1 - r0 < max_rows && count(rows[r1]) == count(rows[r0])) ++r1;
      const int64_t R = static_cast<int64_t>(r1 - r0);
      const int64_t kept = erase == Erase::Remove ? T - count(rows[r0]) : T;
      if (kept < 1) throw Error("erasure --erase remove: cannot remove every token of a sequence");
      // Where each token of the call's rows comes from (flat index sample·T + t into ids / emb's rows; --erase
      // remove leaves the erased ones out) and which are erased: index data made on the host, one copy each.
      std::vector<int64_t> source, erased;
      for (int64_t r = 0; r < R; ++r) {
        const Row& row = rows[r0 + r];
        for (int64_t t = 0; t < T; ++t) {
          if (row.erased[t] && erase == Erase::Remove) continue;
          source.push_back(row.sample * T + t);
          erased.push_back(row.erased[t] ? 1 : 0);
        }
      }
      const Tensor from = Tensor::from_vector({R, kept}, source).to(device);
      Tensor batch_ids = ops::gather_axis(flat_ids, from, 0);  // (R, kept)
      Tape tape;
      if (erase == Erase::Remove) {
        tape = model.forward({batch_ids});
      } else {
        const Tensor is_erased = Tensor::from_vector({R, T}, erased).to(device);  // int64 0/1
        if (erase == Erase::Pad) {
          batch_ids = ops::where(is_erased, ops::full({1}, static_cast<double>(pad_id), DType::I64, device), batch_ids);
          tape = model.forward({batch_ids});
        } else {  // zero: the erased tokens' embedding rows set to 0
          const int64_t d = emb.dim(2);
          Shape s = emb.shape();
          s[0] = R;
          const Tensor e = ops::gather_axis(emb.reshape({N * T, d}), from, 0);  // (R, T, d)
          const Tensor zero = ops::full({1}, 0.0, emb.dtype(), device);
          tape = forward_at(model, point, batch_ids, ops::where(is_erased.reshape({R, T, 1}), zero, e).reshape(s));
        }
      }
      const Tensor& y = tape_logits(model, tape);
      const int64_t K = y.dim(1);
      const std::vector<double> values = ops::value_vector(y);  // (R, K), one copy to the host
      for (int64_t r = 0; r < R; ++r) out.emplace_back(values.begin() + r * K, values.begin() + (r + 1) * K);
      r0 = r1;
    }
    return out;
  }
};

double score_of(const std::vector<double>& logits, int64_t k, Score score) {
  if (k < 0 || k >= static_cast<int64_t>(logits.size()))
    throw Error("erasure: target " + std::to_string(k) + " is out of range for " + std::to_string(logits.size()) +
                " classes");
  if (score == Score::Logit) return logits[k];
  const double mx = *std::max_element(logits.begin(), logits.end());
  double s = 0;
  for (double l : logits) s += std::exp(l - mx);
  const double log_p = logits[k] - mx - std::log(s);
  return score == Score::LogProb ? log_p : std::exp(log_p);
}

int64_t argmax(const std::vector<double>& v) {
  return static_cast<int64_t>(std::max_element(v.begin(), v.end()) - v.begin());  // first on ties
}

Eraser make_eraser(const ExplainRequest& req) {
  check_request(req);
  if (req.input.dtype() != DType::I64 || req.input.ndim() != 2)
    throw Error("erasure: expected int64 token ids (N, T), got " + req.input.describe(),
                "erasure explains token models; use occlusion for float inputs");
  const Erase erase = parse_erase(req.options.get("erase", "zero"));
  const int64_t pad_id = req.options.get_int("pad-id", 0);
  if (pad_id < 0) throw Error("--pad-id " + std::to_string(pad_id) + ": expected a token id >= 0");
  const Point point = attribution_point(*req.model, req.input);
  Tensor emb;
  if (erase == Erase::Zero) emb = req.model->forward({req.input}).values.at(point.value_id);
  return Eraser{*req.model, point, req.input, emb, erase, pad_id, req.input.device()};
}

Attribution erasure(const ExplainRequest& req) {
  const Eraser er = make_eraser(req);
  const Score score = parse_score(req.options.get("score", "log-prob"));
  const int64_t N = er.ids.dim(0), T = er.ids.dim(1);
  std::vector<Row> rows;
  for (int64_t n = 0; n < N; ++n) rows.push_back({n, std::vector<char>(T, 0)});
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      Row r{n, std::vector<char>(T, 0)};
      r.erased[t] = 1;
      rows.push_back(r);
    }
  const auto logits = er.logits(rows);
  // The scores are host numbers (from the logits' one copy back); the table (T + 1, N) of the unerased rows
  // and then token t's erasures goes to the model's device once, and R_t = S(x) − S(x with t erased) runs there.
  std::vector<double> scores;
  for (int64_t r = 0; r < (T + 1) * N; ++r) scores.push_back(score_of(logits[r], req.targets[r % N], score));
  const Tensor table = Tensor::from_vector({T + 1, N}, scores).to(er.device);
  const Tensor drop = ops::sub(ops::strided_slice(table, {0, 0}, {1, 1}, {1, N}),
                               ops::strided_slice(table, {1, 0}, {1, 1}, {T, N}));  // (T, N)
  const Tensor out = ops::transpose_axes(drop, {1, 0});                             // (N, T)
  return {out.to(req.model->dtype()), "erasure", req.options.values, 0};
}

Attribution erasure_flip(const ExplainRequest& req) {
  const Eraser er = make_eraser(req);
  const Score score = parse_score(req.options.get("score", "log-prob"));
  const int64_t N = er.ids.dim(0), T = er.ids.dim(1);
  std::vector<std::vector<char>> erased(N, std::vector<char>(T, 0));
  std::vector<std::vector<int64_t>> order(N);
  std::vector<int64_t> flipped(N, -1);
  std::vector<Row> now;
  for (int64_t n = 0; n < N; ++n) now.push_back({n, erased[n]});
  std::vector<std::vector<double>> current = er.logits(now);
  std::vector<char> done(N, 0);
  for (int64_t n = 0; n < N; ++n)
    if (argmax(current[n]) != req.targets[n]) done[n] = 1, flipped[n] = argmax(current[n]);
  // At most T − 1 tokens: an empty sequence is not a sentence (and text models refuse all-padding rows).
  const int64_t max_steps = T - 1;
  for (int64_t step = 0; step < max_steps; ++step) {
    // Every unfinished sample tries every token it has not erased yet, all in one batch.
    std::vector<Row> rows;
    std::vector<std::pair<int64_t, int64_t>> what;  // (sample, token) per row
    for (int64_t n = 0; n < N; ++n) {
      if (done[n]) continue;
      for (int64_t t = 0; t < T; ++t) {
        if (erased[n][t]) continue;
        Row r{n, erased[n]};
        r.erased[t] = 1;
        rows.push_back(r);
        what.push_back({n, t});
      }
    }
    if (rows.empty()) break;
    const auto logits = er.logits(rows);
    std::vector<int64_t> best(N, -1);
    std::vector<double> best_score(N, 0.0);
    std::vector<size_t> best_row(N, 0);
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto [n, t] = what[i];
      const double s = score_of(logits[i], req.targets[n], score);
      if (best[n] < 0 || s < best_score[n]) best[n] = t, best_score[n] = s, best_row[n] = i;  // largest drop
    }
    for (int64_t n = 0; n < N; ++n) {
      if (done[n] || best[n] < 0) continue;
      erased[n][best[n]] = 1;
      order[n].push_back(best[n]);
      const int64_t c = argmax(logits[best_row[n]]);
      if (c != req.targets[n]) done[n] = 1, flipped[n] = c;
    }
  }
  // The ranks are the greedy search's host results: one table (N, T), one copy to the device.
  std::vector<double> ranks(static_cast<size_t>(N * T), 0.0);
  const std::vector<int64_t> host_ids = ops::index_vector(er.ids);  // the summary's token ids
  std::string sizes, classes, positions;
  nlohmann::json summary = nlohmann::json::array();
  for (int64_t n = 0; n < N; ++n) {
    const int64_t k = static_cast<int64_t>(order[n].size());
    for (int64_t j = 0; j < k; ++j) ranks[static_cast<size_t>(n * T + order[n][j])] = static_cast<double>(k - j);
    const int64_t size = flipped[n] >= 0 ? k : -1;
    std::string pos;
    std::vector<int64_t> tokens;
    for (int64_t t : order[n]) {
      if (!pos.empty()) pos += ' ';
      pos += std::to_string(t);
      tokens.push_back(host_ids[static_cast<size_t>(n * T + t)]);
    }
    if (n > 0) sizes += ',', classes += ',', positions += ';';
    sizes += std::to_string(size);
    classes += std::to_string(flipped[n]);
    positions += pos;
    summary.push_back({{"sample", n},
                       {"class", req.targets[n]},
                       {"set_size", size},
                       {"flipped_class", flipped[n]},
                       {"positions", order[n]},
                       {"token_ids", tokens}});
  }
  const Tensor out = Tensor::from_vector({N, T}, ranks).to(er.device);
  Attribution a{out.to(req.model->dtype()), "erasure-flip", req.options.values, 0};
  a.parameters["search"] = "greedy";
  a.parameters["flip_set_size"] = sizes;
  a.parameters["flipped_class"] = classes;
  a.parameters["flip_positions"] = positions;
  const std::string path = req.options.get("summary", "");
  if (!path.empty()) {
    const std::string text = nlohmann::json{{"method", "erasure-flip"},
                                            {"search", "greedy"},
                                            {"score", req.options.get("score", "log-prob")},
                                            {"erase", req.options.get("erase", "zero")},
                                            {"samples", summary}}
                                 .dump(1) +
                             "\n";
    write_file_atomic(path, {text});
  }
  return a;
}

const OptionSpec kScore{"score", "log-prob", "erasure score of the target class: log-prob, prob or logit",
                        "{logit,prob,log-prob}"};
const OptionSpec kErase{"erase", "zero",
                        "how a token is erased: zero (embedding set to 0), pad (id replaced by --pad-id), remove",
                        "{zero,pad,remove}"};
const OptionSpec kPadId{"pad-id", "0", "token id that --erase pad substitutes", "INT"};

MethodRegistration reg{{"erasure",
                        "representation erasure (Li et al. 2016): drop of the target's score when one token is erased",
                        {kScore, kErase, kPadId},
                        erasure}};
MethodRegistration reg_flip{
    {"erasure-flip",
     "greedy smallest set of erased tokens that changes the prediction (Li et al. 2016); ranks the erased tokens",
     {kScore,
      kErase,
      kPadId,
      {"summary", "", "write set sizes, flipped classes and positions to this JSON file", "FILE"}},
     erasure_flip}};

}  // namespace
}  // namespace xdnn::explain
