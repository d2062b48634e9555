// Finite-state machine extraction from a recurrent network by k-means: see automaton.h.
#include "explain/global/automaton.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>

#include "engine/error.h"
#include "engine/random.h"

namespace xdnn::explain {

namespace {

bool is_recurrent(const std::string& kind) { return kind == "LSTM" || kind == "GRU" || kind == "RNN"; }

int64_t argmax(const double* p, int64_t K) { return std::max_element(p, p + K) - p; }

// The network's class for each row of ids (N, T), in chunks of 512 rows.
std::vector<int64_t> classes(const Model& model, const Tensor& ids) {
  std::vector<int64_t> out;
  for (int64_t b = 0; b < ids.dim(0); b += 512) {
    const int64_t e = std::min(ids.dim(0), b + 512);
    const Tensor logits = model.predict(ids.slice_batch(b, e)).to(DType::F64);
    if (logits.ndim() != 2 || logits.dim(0) != e - b)
      throw Error("automaton: the model's output is " + logits.describe() + ", expected class scores (N, K)");
    for (int64_t i = 0; i < e - b; ++i) out.push_back(argmax(logits.data<double>() + i * logits.dim(1), logits.dim(1)));
  }
  return out;
}

double squared_distance(const double* a, const double* b, int64_t H) {
  double s = 0.0;
  for (int64_t h = 0; h < H; ++h) s += (a[h] - b[h]) * (a[h] - b[h]);
  return s;
}

// k-means (Lloyd 1982) with k-means++ seeding (Arthur & Vassilvitskii 2007) over the rows of x (M, H).
// Returns each row's cluster; centroids out. Deterministic for a seed (sequential sums).
std::vector<int64_t> kmeans(const std::vector<double>& x, int64_t M, int64_t H, const AutomatonOptions& o,
                            std::vector<double>& centroids) {
  const int64_t k = std::min<int64_t>(o.clusters, M);
  Rng rng(o.seed);
  centroids.assign(static_cast<size_t>(k * H), 0.0);
  std::vector<double> d2(static_cast<size_t>(M), std::numeric_limits<double>::infinity());
  int64_t pick = static_cast<int64_t>(rng.below(static_cast<uint64_t>(M)));
  for (int64_t c = 0; c < k; ++c) {
    std::copy_n(x.data() + pick * H, H, centroids.data() + c * H);
    double total = 0.0;
    for (int64_t i = 0; i < M; ++i) {
      d2[i] = std::min(d2[i], squared_distance(x.data() + i * H, centroids.data() + c * H, H));
      total += d2[i];
    }
    if (!(total > 0.0)) break;  // fewer distinct states than clusters: the rest stay copies
    double u = rng.uniform() * total;
    pick = M - 1;
    for (int64_t i = 0; i < M; ++i) {
      u -= d2[i];
      if (u < 0.0) {
        pick = i;
        break;
      }
    }
  }
  std::vector<int64_t> assign(static_cast<size_t>(M), -1);
  for (int64_t it = 0; it < o.iterations; ++it) {
    bool changed = false;
    for (int64_t i = 0; i < M; ++i) {
      int64_t best = 0;
      double bd = std::numeric_limits<double>::infinity();
      for (int64_t c = 0; c < k; ++c) {
        const double d = squared_distance(x.data() + i * H, centroids.data() + c * H, H);
        if (d < bd) {
          bd = d;
          best = c;
        }
      }
      changed = changed || assign[i] != best;
      assign[i] = best;
    }
    if (!changed) break;
    std::vector<double> sum(static_cast<size_t>(k * H), 0.0);
    std::vector<int64_t> n(static_cast<size_t>(k), 0);
    for (int64_t i = 0; i < M; ++i) {
      ++n[assign[i]];
      for (int64_t h = 0; h < H; ++h) sum[assign[i] * H + h] += x[i * H + h];
    }
    for (int64_t c = 0; c < k; ++c)
      if (n[c] > 0)
        for (int64_t h = 0; h < H; ++h) centroids[c * H + h] = sum[c * H + h] / static_cast<double>(n[c]);
  }
  return assign;
}

// snprintf rather than "q" + std::to_string(s): GCC 12 warns falsely (-Wrestrict) on the latter here.
std::string numbered(const char* prefix, int64_t i) {
  char b[32];
  std::snprintf(b, sizeof b, "%s%lld", prefix, static_cast<long long>(i));
  return b;
}

std::string token_label(const std::vector<std::string>& names, int64_t id) {
  return id < static_cast<int64_t>(names.size()) ? names[id] : numbered("#", id);
}

std::string state_name(int64_t s) { return s == 0 ? std::string("start") : numbered("q", s); }

}  // namespace

int recurrent_node(const Model& model) {
  std::string kinds;
  for (size_t i = 0; i < model.nodes().size(); ++i) {
    const std::string kind = model.nodes()[i].layer->kind();
    if (is_recurrent(kind)) return static_cast<int>(i);
    if (kinds.find(kind) == std::string::npos) kinds += (kinds.empty() ? "" : ", ") + kind;
  }
  throw Error("automaton: the model has no recurrent layer (LSTM, GRU or RNN); its layers are " + kinds,
              "automaton extraction reads a recurrent network's hidden state after each token");
}

RecurrentStates recurrent_states(const Model& model, const Tensor& ids) {
  const int node = recurrent_node(model);
  if (!ids.defined() || ids.dtype() != DType::I64 || ids.ndim() != 2 || ids.dim(0) < 1)
    throw Error("automaton: expected int64 token ids (N, T), got " +
                (ids.defined() ? ids.describe() : std::string("nothing")));
  const Node& rnn = model.nodes()[node];
  const int64_t N = ids.dim(0), T = ids.dim(1);
  const Tape tape = model.forward({ids});
  const Tensor y = tape.values.at(rnn.outputs.at(0)).to(DType::F64);
  if (y.ndim() != 3 || y.dim(0) != N || y.dim(1) != T)
    throw Error("automaton: recurrent layer '" + rnn.name + "' gives " + y.describe() + ", expected batch-first (" +
                std::to_string(N) + ", " + std::to_string(T) + ", H)");
  if (rnn.outputs.size() > 1) {
    const Tensor& h_n = tape.values.at(rnn.outputs[1]);
    if (h_n.defined() && h_n.ndim() == 3 && y.dim(2) != h_n.dim(2))
      throw Error("automaton: recurrent layer '" + rnn.name +
                      "' is bidirectional: its state after token t depends on "
                      "later tokens, so it is no finite-state machine reading left to right",
                  "extract from a unidirectional LSTM / GRU / RNN");
  }
  RecurrentStates r;
  r.layer = rnn.name;
  r.states = y;
  const int64_t* id = ids.data<int64_t>();
  for (int64_t n = 0; n < N; ++n) {
    int64_t len = 0;
    for (int64_t t = 0; t < T; ++t)
      if (id[n * T + t] != 0) len = t + 1;
    if (len == 0) throw Error("automaton: sequence " + std::to_string(n) + " is all padding");
    r.lengths.push_back(len);
  }
  // Every prefix ids[n, 0..t] as its own padded row: the network's class after each token.
  std::vector<int64_t> rows;
  std::vector<int64_t> where;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t t = 0; t < r.lengths[n]; ++t) {
      for (int64_t s = 0; s < T; ++s) rows.push_back(s <= t ? id[n * T + s] : 0);
      where.push_back(n * T + t);
    }
  const std::vector<int64_t> prefix =
      classes(model, Tensor::from_vector({static_cast<int64_t>(where.size()), T}, rows));
  r.prefix_class.assign(static_cast<size_t>(N * T), -1);
  for (size_t i = 0; i < where.size(); ++i) r.prefix_class[where[i]] = prefix[i];
  for (int64_t n = 0; n < N; ++n) r.network_class.push_back(r.prefix_class[n * T + r.lengths[n] - 1]);
  return r;
}

int64_t ExtractedAutomaton::classify(const int64_t* ids, int64_t length) const {
  int64_t s = 0;
  for (int64_t t = 0; t < length; ++t) {
    const int64_t tok = ids[t];
    const int64_t to = tok >= 0 && tok < num_tokens ? next[s * num_tokens + tok] : -1;
    if (to >= 0) s = to;
  }
  return output[s];
}

AutomatonResult extract_automaton(const Tensor& fit_ids, const RecurrentStates& fit, const Tensor& held_ids,
                                  const RecurrentStates& held, const AutomatonOptions& o) {
  if (o.clusters < 1 || o.clusters > 4096)
    throw Error("automaton: clusters " + std::to_string(o.clusters) + ": expected 1..4096");
  if (o.iterations < 1) throw Error("automaton: iterations must be ≥ 1");
  const int64_t N = fit_ids.dim(0), T = fit_ids.dim(1), H = fit.states.dim(2);
  const int64_t* id = fit_ids.data<int64_t>();
  // The valid states as rows of a matrix (M, H).
  std::vector<double> x;
  std::vector<int64_t> at;
  int64_t V = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t t = 0; t < fit.lengths[n]; ++t) {
      const double* h = fit.states.data<double>() + (n * T + t) * H;
      x.insert(x.end(), h, h + H);
      at.push_back(n * T + t);
      V = std::max(V, id[n * T + t] + 1);
    }
  const int64_t M = static_cast<int64_t>(at.size());
  std::vector<double> centroids;
  const std::vector<int64_t> cluster = kmeans(x, M, H, o, centroids);
  const int64_t k = static_cast<int64_t>(centroids.size()) / H;
  AutomatonResult r;
  ExtractedAutomaton& m = r.machine;
  m.num_states = k + 1;
  m.num_tokens = V;
  m.count.assign(static_cast<size_t>(m.num_states * V), 0);
  m.next.assign(static_cast<size_t>(m.num_states * V), -1);
  m.visits.assign(static_cast<size_t>(m.num_states), 0);
  std::map<std::pair<int64_t, int64_t>, std::vector<int64_t>> votes;  // (state, token) -> counts per target
  std::vector<std::vector<int64_t>> class_votes(static_cast<size_t>(m.num_states));
  std::vector<int64_t> state_of(static_cast<size_t>(N * T), -1);
  for (int64_t i = 0; i < M; ++i) state_of[at[i]] = 1 + cluster[i];
  for (int64_t n = 0; n < N; ++n) {
    int64_t prev = 0;
    for (int64_t t = 0; t < fit.lengths[n]; ++t) {
      const int64_t cur = state_of[n * T + t], tok = id[n * T + t];
      auto& v = votes[{prev, tok}];
      v.resize(static_cast<size_t>(m.num_states), 0);
      ++v[cur];
      const int64_t c = fit.prefix_class[n * T + t];
      if (class_votes[cur].size() <= static_cast<size_t>(c)) class_votes[cur].resize(static_cast<size_t>(c + 1), 0);
      ++class_votes[cur][c];
      ++m.visits[cur];
      prev = cur;
    }
  }
  for (const auto& [key, v] : votes) {
    const int64_t best = std::max_element(v.begin(), v.end()) - v.begin();
    m.next[key.first * V + key.second] = best;
    m.count[key.first * V + key.second] = v[best];
  }
  m.output.assign(static_cast<size_t>(m.num_states), -1);
  for (int64_t s = 1; s < m.num_states; ++s)
    if (!class_votes[s].empty())
      m.output[s] = std::max_element(class_votes[s].begin(), class_votes[s].end()) - class_votes[s].begin();
  // Scores.
  int64_t agree = 0, states_agree = 0;
  for (int64_t n = 0; n < N; ++n) {
    agree += m.classify(id + n * T, fit.lengths[n]) == fit.network_class[n];
    for (int64_t t = 0; t < fit.lengths[n]; ++t)
      states_agree += m.output[state_of[n * T + t]] == fit.prefix_class[n * T + t];
  }
  r.fit_sequences = N;
  r.fidelity_fit = static_cast<double>(agree) / static_cast<double>(N);
  r.state_agreement = static_cast<double>(states_agree) / static_cast<double>(M);
  const int64_t Nh = held_ids.dim(0), Th = held_ids.dim(1);
  const int64_t* hid = held_ids.data<int64_t>();
  agree = 0;
  for (int64_t n = 0; n < Nh; ++n) {
    agree += m.classify(hid + n * Th, held.lengths[n]) == held.network_class[n];
    int64_t s = 0;
    for (int64_t t = 0; t < held.lengths[n]; ++t) {
      const int64_t tok = hid[n * Th + t];
      const int64_t to = tok >= 0 && tok < V ? m.next[s * V + tok] : -1;
      if (to < 0)
        ++r.unseen_transitions;
      else
        s = to;
    }
  }
  r.held_out_sequences = Nh;
  r.fidelity = Nh > 0 ? static_cast<double>(agree) / static_cast<double>(Nh) : 0.0;
  return r;
}

TransitionTable transition_table(const ExtractedAutomaton& m, const std::vector<std::string>& token_names,
                                 const std::vector<std::string>& class_names) {
  // Tokens whose columns are identical (same next state from every state) share one column.
  std::map<std::vector<int64_t>, std::vector<int64_t>> groups;
  std::vector<std::vector<int64_t>> order;
  for (int64_t tok = 0; tok < m.num_tokens; ++tok) {
    std::vector<int64_t> col;
    bool seen = false;
    for (int64_t s = 0; s < m.num_states; ++s) {
      // What the machine does: a pair never seen keeps the state (classify), so it is shown as a self-loop.
      const int64_t to = m.next[s * m.num_tokens + tok];
      col.push_back(to < 0 ? s : to);
      seen = seen || to >= 0;
    }
    if (!seen) continue;
    if (!groups.count(col)) order.push_back(col);
    groups[col].push_back(tok);
  }
  TransitionTable t;
  t.header = {"state", "output", "prefixes"};
  for (const auto& col : order) {
    const auto& toks = groups[col];
    std::string label = token_label(token_names, toks[0]);
    if (toks.size() > 1) label += " ... (" + std::to_string(toks.size()) + " tokens)";
    t.header.push_back(label);
  }
  for (int64_t s = 0; s < m.num_states; ++s) {
    const int64_t c = m.output[s];
    std::vector<std::string> row = {state_name(s), c < 0 ? std::string("-") : token_label(class_names, c),
                                    std::to_string(m.visits[s])};
    for (const auto& col : order) row.push_back(state_name(col[s]));
    t.rows.push_back(row);
  }
  return t;
}

std::string format_table(const TransitionTable& t) {
  std::vector<size_t> width(t.header.size(), 0);
  for (size_t c = 0; c < t.header.size(); ++c) width[c] = t.header[c].size();
  for (const auto& row : t.rows)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t c = 0; c < cells.size(); ++c) s += cells[c] + std::string(width[c] - cells[c].size() + 2, ' ');
    return s + "\n";
  };
  std::string s = line(t.header);
  for (const auto& row : t.rows) s += line(row);
  return s;
}

}  // namespace xdnn::explain
