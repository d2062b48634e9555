// Anchors (Ribeiro, Singh & Guestrin 2018, "Anchors: high-precision model-agnostic explanations", AAAI):
// an if-then rule A (a set of predicates over the features of x, explain/anchor_space.h) such that the
// model keeps predicting x's class K on perturbed copies z ~ D(·|A) that satisfy the rule:
//   prec(A) = E_{z ~ D(·|A)} [argmax f(z) = K] ≥ τ   (eq. 1-2),   cov(A) = E_{z ~ D(·|∅)} [A(z)]   (eq. 3),
// and among those the rule of largest coverage (eq. 4). Search (§3.1, Algorithm 3): bottom-up beam
// search; round t extends every anchor of the beam by one predicate, keeps the candidates whose coverage
// beats the best valid anchor so far, and picks the B (--beam-width) most precise by KL-LUCB (Algorithm 2,
// explain/kl_lucb.h: sample the weakest of the top B and the strongest of the rest, --batch-size draws each,
// until U(best outside) − L(worst inside) ≤ ε). Each chosen anchor is then sampled until its precision is
// decided: valid when p̂ ≥ τ and L ≥ τ − ε, invalid when p̂ < τ and U < τ + ε, with the level
// log((1 + (B − 1)·P) / δ) / n of the authors' code (a union bound over the P predicates' candidates).
// The empty rule is tried first (the model may predict K almost everywhere). Counts are capped: every
// model evaluation of one sample counts against --max-samples; when it runs out the search stops and
// reports what it has ("budget_exhausted"). Without a valid anchor the most precise one evaluated is
// returned with "precision_met": false.
//
// Output: the attribution is a mask of the input's shape, 1 on the anchor's features (columns, token
// positions, feature groups), 0 elsewhere; the rules, one JSON object per sample (predicates, precision,
// coverage, counts), are the JSON array in Attribution::parameters["rules"], which `xdnn explain --out
// R.json` writes and the report shows. Seeded (SplitMix64 per sample: the same bits for any batch split).
#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "explain/anchor_space.h"
#include "explain/kl_lucb.h"
#include "explain/targets.h"

namespace xdnn::explain {
namespace {

struct Arm {
  Anchor anchor;
  double coverage = 0;
  int64_t n = 0, hits = 0;  // draws of D(·|anchor) and how many the model gave class K
  double mean() const { return n > 0 ? static_cast<double>(hits) / static_cast<double>(n) : 0.0; }
};

struct Settings {
  double tau, delta, epsilon;
  int64_t beam, batch, budget, max_size;
};

Settings parse_settings(const Options& o) {
  Settings s{};
  s.tau = o.get_double("threshold", 0.95);
  if (!(s.tau > 0 && s.tau <= 1))
    throw Error("--threshold " + o.get("threshold", "") + ": expected a precision threshold in (0, 1]");
  s.delta = o.get_double("delta", 0.1);
  if (!(s.delta > 0 && s.delta < 1)) throw Error("--delta " + o.get("delta", "") + ": expected a confidence in (0, 1)");
  s.epsilon = o.get_double("lucb-epsilon", 0.1);
  if (!(s.epsilon >= 0 && s.epsilon < 1))
    throw Error("--lucb-epsilon " + o.get("lucb-epsilon", "") + ": expected a tolerance in [0, 1)");
  s.beam = o.get_int("beam-width", 2);
  if (s.beam < 1 || s.beam > 1000) throw Error("--beam-width " + o.get("beam-width", "") + ": expected 1..1000");
  s.batch = o.get_int("batch-size", 100);
  if (s.batch < 1 || s.batch > 100'000)
    throw Error("--batch-size " + o.get("batch-size", "") + ": expected 1..100000 samples per draw");
  s.budget = o.get_int("max-samples", 100'000);
  if (s.budget < 1 || s.budget > 1'000'000'000)
    throw Error("--max-samples " + o.get("max-samples", "") + ": expected 1..1000000000 model evaluations");
  s.max_size = o.get_int("max-anchor-size", 0);
  if (s.max_size < 0)
    throw Error("--max-anchor-size " + o.get("max-anchor-size", "") + ": expected >= 0 (0: no limit)");
  return s;
}

// The search for one sample.
class Search {
 public:
  // `device`: where the model lives; the space and its rows are on the host (a host search over discrete
  // features), each call's rows go there in one copy.
  Search(const Model& model, Device device, const AnchorSpace& space, int64_t target, uint64_t seed, const Settings& s)
      : model_(model), device_(device), space_(space), target_(target), rng_(seed), s_(s) {
    rows_per_call_ = model.exported_batch > 0 ? 1 : kRowsPerCall;  // Model::exported_batch, as Perturber
  }

  std::vector<Arm> arms;
  int64_t used = 0;
  bool exhausted = false;

  int arm(const Anchor& a) {
    auto [it, fresh] = index_.try_emplace(a, static_cast<int>(arms.size()));
    if (fresh) arms.push_back({a, space_.coverage(a)});
    return it->second;
  }

  // `count` more draws for each of `which`, through the model kRowsPerCall rows at a time (rows of several
  // arms share a call); fewer when the budget runs out.
  void sample(const std::vector<int>& which, int64_t count) {
    Tensor buf(space_.row_shape(rows_per_call_), space_.row_dtype());
    std::vector<int> owner(rows_per_call_);
    int64_t filled = 0;
    auto flush = [&] {
      if (filled == 0) return;
      Tensor rows = buf.slice_batch(0, filled);
      if (rows.is_float()) rows = rows.to(model_.dtype());
      const Tensor logits = model_.predict(rows.to(device_));
      if (logits.ndim() != 2 || logits.dim(0) != filled)
        throw Error("anchors: the model output must be logits (N, classes), got " + logits.describe());
      const std::vector<int64_t> predicted = argmax_rows(logits);
      for (int64_t r = 0; r < filled; ++r) {
        arms[owner[r]].n += 1;
        arms[owner[r]].hits += predicted[r] == target_;
      }
      filled = 0;
    };
    for (int a : which) {
      int64_t left = std::min(count, s_.budget - used);
      if (left < count) exhausted = true;
      used += left;
      while (left > 0) {
        const int64_t k = std::min(left, rows_per_call_ - filled);
        space_.draw(arms[a].anchor, k, rng_, buf, filled);
        std::fill(owner.begin() + filled, owner.begin() + filled + k, a);
        filled += k;
        left -= k;
        if (filled == rows_per_call_) flush();
      }
    }
    flush();
  }

  // KL-LUCB's B best of `cands` by precision (Algorithm 2), sorted by estimated precision.
  std::vector<int> best_candidates(std::vector<int> cands) {
    auto by_mean = [&](int a, int b) { return arms[a].mean() > arms[b].mean(); };
    const size_t B = static_cast<size_t>(s_.beam);
    for (int64_t t = 1; cands.size() > B && !exhausted; ++t) {
      std::stable_sort(cands.begin(), cands.end(), by_mean);
      const double beta = kl_lucb_beta(static_cast<int64_t>(cands.size()), t, s_.delta);
      int inside = cands[0], outside = cands[B];
      double lower = 2, upper = -1;
      for (size_t i = 0; i < cands.size(); ++i) {
        const Arm& a = arms[cands[i]];
        const double level = beta / static_cast<double>(a.n);
        if (i < B) {
          const double l = kl_lower_bound(a.mean(), level);
          if (l < lower) lower = l, inside = cands[i];
        } else {
          const double u = kl_upper_bound(a.mean(), level);
          if (u > upper) upper = u, outside = cands[i];
        }
      }
      if (upper - lower <= s_.epsilon) break;
      sample({outside, inside}, s_.batch);
    }
    std::stable_sort(cands.begin(), cands.end(), by_mean);
    if (cands.size() > B) cands.resize(B);
    return cands;
  }

  // Samples arm `a` until its precision is decided against τ; whether it is valid.
  bool precise(int a, int64_t predicates) {
    const double level0 = std::log((1.0 + static_cast<double>((s_.beam - 1) * predicates)) / s_.delta);
    while (true) {
      const Arm& arm = arms[a];
      const double m = arm.mean(), level = level0 / static_cast<double>(arm.n);
      if (arm.n > 0 && m >= s_.tau && kl_lower_bound(m, level) >= s_.tau - s_.epsilon) return true;
      if (arm.n > 0 && m < s_.tau && kl_upper_bound(m, level) < s_.tau + s_.epsilon) return false;
      if (exhausted) return false;
      sample({a}, s_.batch);
    }
  }

  double lower_bound(int a, int64_t predicates) const {
    const double level0 = std::log((1.0 + static_cast<double>((s_.beam - 1) * predicates)) / s_.delta);
    return arms[a].n > 0 ? kl_lower_bound(arms[a].mean(), level0 / static_cast<double>(arms[a].n)) : 0.0;
  }

 private:
  const Model& model_;
  Device device_;
  const AnchorSpace& space_;
  int64_t target_;
  SplitMix64 rng_;
  Settings s_;
  int64_t rows_per_call_ = 1;
  std::map<Anchor, int> index_;
};

// Algorithm 3: the anchor of one sample and its rule as JSON.
nlohmann::ordered_json find_anchor(const Model& model, Device device, const AnchorSpace& space, int64_t sample,
                                   int64_t target, uint64_t seed, const Settings& s, Tensor* mask) {
  Search search(model, device, space, target, seed, s);
  const int64_t P = static_cast<int64_t>(space.predicates.size());
  int best = -1;
  const int empty = search.arm({});
  search.sample({empty}, s.batch);
  if (search.precise(empty, P)) best = empty;
  std::vector<Anchor> beam{{}};
  const int64_t max_size = s.max_size > 0 ? std::min(s.max_size, P) : P;
  for (int64_t size = 1; size <= max_size && best != empty && !search.exhausted; ++size) {
    const double best_coverage = best >= 0 ? search.arms[best].coverage : -1.0;
    std::vector<int> cands, fresh;
    for (const Anchor& a : beam)
      for (int p = 0; p < P; ++p) {
        if (std::find(a.begin(), a.end(), p) != a.end()) continue;
        Anchor c = a;
        c.insert(std::upper_bound(c.begin(), c.end(), p), p);
        const size_t before = search.arms.size();
        const int id = search.arm(c);
        if (std::find(cands.begin(), cands.end(), id) != cands.end()) continue;
        if (search.arms[id].coverage <= best_coverage) continue;  // cannot beat the best valid anchor
        cands.push_back(id);
        if (search.arms.size() > before) fresh.push_back(id);
      }
    if (cands.empty()) break;
    search.sample(fresh, s.batch);
    const std::vector<int> chosen = search.best_candidates(cands);
    beam.clear();
    for (int c : chosen) {
      beam.push_back(search.arms[c].anchor);
      const double cover = best >= 0 ? search.arms[best].coverage : -1.0;
      if (search.arms[c].coverage > cover && search.precise(c, P)) best = c;
    }
  }
  const bool met = best >= 0;
  if (!met) {  // the most precise anchor evaluated (ties: larger coverage, then the earlier one)
    best = empty;
    for (int a = 0; a < static_cast<int>(search.arms.size()); ++a) {
      const Arm &x = search.arms[a], &y = search.arms[best];
      if (x.n > 0 && (x.mean() > y.mean() || (x.mean() == y.mean() && x.coverage > y.coverage))) best = a;
    }
  }
  const Arm& arm = search.arms[best];
  *mask = space.mask(arm.anchor);
  nlohmann::ordered_json rule, predicates = nlohmann::ordered_json::array();
  std::string text;
  for (int i : arm.anchor) {
    const AnchorPredicate& p = space.predicates[i];
    nlohmann::ordered_json j{{"feature", p.feature}, {"name", p.name}};
    j["op"] = p.op == AnchorPredicate::Op::Greater ? ">" : p.op == AnchorPredicate::Op::AtMost ? "<=" : "kept";
    if (p.op != AnchorPredicate::Op::Kept) j["value"] = p.value;
    if (p.token >= 0) j["token_id"] = p.token;
    j["text"] = p.text();
    predicates.push_back(j);
    text += (text.empty() ? "" : " AND ") + p.text();
  }
  rule["sample"] = sample;
  rule["target"] = target;
  rule["features"] = space.features;
  rule["predicates"] = predicates;
  rule["rule"] = "IF " + (text.empty() ? std::string("(always)") : text) + " THEN class " + std::to_string(target);
  rule["precision"] = arm.mean();
  rule["precision_lower_bound"] = search.lower_bound(best, P);
  rule["coverage"] = arm.coverage;
  rule["anchor_samples"] = arm.n;
  rule["samples"] = search.used;
  rule["precision_met"] = met;
  rule["budget_exhausted"] = search.exhausted;
  return rule;
}

Attribution anchors(const ExplainRequest& req) {
  check_request(req);
  const Settings s = parse_settings(req.options);
  const uint64_t seed = parse_seed(req.options);
  const int64_t N = req.input.dim(0);
  Tensor values(req.input.shape(), DType::F64);  // (N, ...) images / tabular, (N, T) tokens
  nlohmann::ordered_json rules = nlohmann::ordered_json::array();
  for (int64_t n = 0; n < N; ++n) {
    ExplainRequest one = req;
    one.input = req.input.slice_batch(n, n + 1).to(Device::CPU);
    one.targets = {req.targets[n]};
    const AnchorSpace space = AnchorSpace::make(one);
    SplitMix64 streams(seed);  // sample first_sample + n draws from its own stream, whatever the batch split
    streams.skip(static_cast<uint64_t>(req.first_sample + n));
    Tensor mask;
    rules.push_back(find_anchor(*req.model, req.input.device(), space, req.first_sample + n, req.targets[n],
                                streams.next(), s, &mask));
    values.slice_batch(n, n + 1).copy_from(mask.reshape(values.slice_batch(n, n + 1).shape()));
  }
  Attribution out{values.to(req.model->dtype()), "anchors", req.options.values, seed};
  out.parameters["rules"] = rules.dump();
  return out;
}

MethodRegistration reg{
    {"anchors",
     "Anchors (Ribeiro et al. 2018): the if-then rule of largest coverage with precision >= tau (KL-LUCB beam "
     "search); mask of its features, rules as JSON",
     {kOptFeatureMask,
      kOptGroupBaseline,
      kOptPadId,
      kOptSeed,
      {"background", "", "tabular inputs: float32 (M, D) data sample that sets the bins and D(.|A)", "FILE",
       any_value_names_file},
      {"bins", "4", "tabular inputs: bins per column at the background's quantiles (4: quartiles)", "INT"},
      {"feature-names", "", "tabular inputs: comma-separated column names for the rule", "TEXT"},
      {"threshold", "0.95", "precision threshold tau of an anchor, in (0, 1]", "FLOAT"},
      {"delta", "0.1", "confidence delta of the KL-LUCB bounds", "FLOAT"},
      {"lucb-epsilon", "0.1", "tolerance epsilon of KL-LUCB and of the precision test", "FLOAT"},
      {"beam-width", "2", "anchors kept per beam-search round (B)", "INT"},
      {"batch-size", "100", "draws of D(.|A) per sampling step", "INT"},
      {"max-samples", "100000", "model evaluations per sample, at most", "INT"},
      {"max-anchor-size", "0", "predicates per anchor, at most (0: no limit)", "INT"},
      {"padding-id", "", "token inputs: id of padding positions, never replaced nor in a rule (default: --pad-id)",
       "INT"},
      {"replace-prob", "0.5", "token and image inputs: probability that a feature outside the anchor is replaced",
       "FLOAT"}},
     anchors}};

}  // namespace
}  // namespace xdnn::explain
