// Shared perturbation machinery; see perturbation.h.
#include "explain/perturbation.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "explain/baseline.h"
#include "explain/copies.h"
#include "explain/influence/influence.h"
#include "explain/point.h"
#include "explain/slic.h"
#include "explain/targets.h"
#include "models/io/npy.h"

namespace xdnn::explain {

Tensor score_seed(const Tensor& logits, const std::vector<int64_t>& targets, ScoreKind score) {
  const int64_t R = logits.dim(0), K = logits.dim(1);
  // The R·K logits are read back (ops::value_vector, a copy from the device) and the seed, made on the host
  // in double as always, goes to the logits' device: small next to the forward and backward it seeds.
  const std::vector<double> l = ops::value_vector(logits);
  const double* pl = l.data();
  std::vector<double> seed(static_cast<size_t>(R * K), 0.0);
  double* ps = seed.data();
  for (int64_t r = 0; r < R; ++r) {
    const int64_t t = targets.at(r);
    if (t < 0 || t >= K) throw Error("target " + std::to_string(t) + " is out of range for " + std::to_string(K));
    double* row = ps + r * K;
    if (score == ScoreKind::Logit) {
      row[t] = 1.0;
      continue;
    }
    // ∂ log p_t / ∂f_k = [k = t] − p_k;  ∂ p_t / ∂f_k = p_t ([k = t] − p_k).
    const double* f = pl + r * K;
    const double m = *std::max_element(f, f + K);
    double sum = 0;
    for (int64_t k = 0; k < K; ++k) sum += std::exp(f[k] - m);
    const double p_t = std::exp(f[t] - m) / sum;
    const double scale = score == ScoreKind::Prob ? p_t : 1.0;
    for (int64_t k = 0; k < K; ++k) row[k] = scale * ((k == t ? 1.0 : 0.0) - std::exp(f[k] - m) / sum);
  }
  return Tensor::from_vector({R, K}, seed).to(logits.dtype()).to(logits.device());
}

Tensor score_gradient(const Model& model, const Tape& tape, int value_id, const std::vector<int64_t>& targets,
                      ScoreKind score) {
  const Tensor seed = score_seed(tape_logits(model, tape), targets, score);
  const BackwardOptions opt{};
  const int producer = model.producer(value_id);
  std::vector<Tensor> g =
      model.reverse_walk(tape, {{logits_id(model), seed}}, [&](int k, const std::vector<Tensor>& gy) {
        if (k <= producer) return std::vector<Tensor>{};  // nothing before the value's producer reaches it
        return model.nodes()[k].layer->backward(gy, tape.saved[k], opt);
      });
  const Tensor& v = tape.values.at(value_id);
  return g.at(value_id).defined() ? g[value_id] : Tensor(v.shape(), v.dtype(), v.device());
}

uint64_t SplitMix64::next() {
  state += 0x9E3779B97F4A7C15ULL;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double SplitMix64::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

uint64_t parse_seed(const Options& options) {
  const std::string text = options.get("seed", "0");
  const char* s = text.c_str();
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (text.empty() || text[0] == '-' || end == s || *end != '\0' || errno == ERANGE)
    throw Error("--seed '" + text + "': expected an integer in 0..2^64-1");
  return static_cast<uint64_t>(v);
}

FeatureGroups groups_from_mask(const Tensor& mask, const Shape& sample_shape, const std::string& source) {
  // An image mask may also be (H, W): it then applies to every channel.
  const bool per_pixel = sample_shape.size() == 3 && mask.shape() == Shape{sample_shape[1], sample_shape[2]};
  if (mask.shape() != sample_shape && !per_pixel)
    throw Error("--feature-mask " + source + ": expected shape " + shape_str(sample_shape) +
                " (one sample of the input), got " + shape_str(mask.shape()));
  if (mask.dtype() != DType::I64)
    throw Error("--feature-mask " + source + ": expected int64 group ids, got " + mask.describe());
  const int64_t* m = mask.data<int64_t>();
  const int64_t n = mask.numel();
  int64_t G = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (m[i] < 0)
      throw Error("--feature-mask " + source + ": group id " + std::to_string(m[i]) + " at element " +
                  std::to_string(i) + ", expected ids 0..G-1");
    G = std::max(G, m[i] + 1);
  }
  std::vector<char> seen(G, 0);
  for (int64_t i = 0; i < n; ++i) seen[m[i]] = 1;
  for (int64_t g = 0; g < G; ++g)
    if (!seen[g])
      throw Error("--feature-mask " + source + ": group " + std::to_string(g) + " is empty (ids must be 0.." +
                  std::to_string(G - 1) + ", each present)");
  FeatureGroups out;
  out.count = G;
  out.source = source;
  const int64_t per = shape_numel(sample_shape);
  out.group_of.resize(per);
  for (int64_t i = 0; i < per; ++i) out.group_of[i] = m[per_pixel ? i % n : i];
  return out;
}

namespace {

// grid:S on (C, H, W): cell (⌊h/S⌋, ⌊w/S⌋) is one group spanning all channels, numbered row-major.
FeatureGroups grid_groups(const std::string& text, const Shape& sample_shape) {
  const std::string spec = text.substr(5);
  const char* s = spec.c_str();
  char* end = nullptr;
  errno = 0;
  const long long cell = std::strtoll(s, &end, 10);
  if (spec.empty() || end == s || *end != '\0' || errno == ERANGE || cell < 1)
    throw Error("--feature-mask " + text + ": expected grid:S with a cell size S >= 1 in pixels");
  if (sample_shape.size() != 3)
    throw Error("--feature-mask " + text + ": grids need image inputs (N, C, H, W), got samples of shape " +
                shape_str(sample_shape));
  const int64_t C = sample_shape[0], H = sample_shape[1], W = sample_shape[2];
  const int64_t gw = (W + cell - 1) / cell;
  Tensor mask({H, W}, DType::I64);
  int64_t* m = mask.data<int64_t>();
  for (int64_t h = 0; h < H; ++h)
    for (int64_t w = 0; w < W; ++w) m[h * W + w] = (h / cell) * gw + w / cell;
  (void)C;
  return groups_from_mask(mask, sample_shape, text);
}

// slic:K[,m] on one image sample: K segments (default 50), compactness m (default 0.1).
FeatureGroups slic_groups(const std::string& text, const Tensor& x) {
  const std::string spec = text.substr(5);
  const size_t comma = spec.find(',');
  const std::string k_text = spec.substr(0, comma), m_text = comma == std::string::npos ? "" : spec.substr(comma + 1);
  char* end = nullptr;
  errno = 0;
  const long long K = k_text.empty() ? 50 : std::strtoll(k_text.c_str(), &end, 10);
  const bool k_ok = k_text.empty() || (end != k_text.c_str() && *end == '\0' && errno != ERANGE && K >= 1);
  errno = 0;
  const double m = m_text.empty() ? 0.1 : std::strtod(m_text.c_str(), &end);
  const bool m_ok = m_text.empty() || (end != m_text.c_str() && *end == '\0' && errno != ERANGE && m >= 0);
  if (!k_ok || !m_ok || !std::isfinite(m))
    throw Error("--feature-mask " + text + ": expected slic:K or slic:K,m (K >= 1 segments, compactness m >= 0)");
  if (!x.is_float() || x.ndim() != 4)
    throw Error("--feature-mask " + text + ": superpixels need image inputs (N, C, H, W), got " + x.describe());
  if (x.dim(0) != 1) throw Error("internal: slic groups are made one sample at a time");
  const Shape sample(x.shape().begin() + 1, x.shape().end());
  return groups_from_mask(slic_labels(x.reshape(sample), K, m), sample, text);
}

}  // namespace

bool groups_per_sample(const ExplainRequest& req) {
  return req.options.get("feature-mask", "").rfind("slic:", 0) == 0 && req.input.defined() && req.input.ndim() > 0 &&
         req.input.dim(0) > 1;
}

Attribution for_each_sample(const ExplainRequest& req,
                            const std::function<Attribution(const ExplainRequest&)>& method) {
  check_request(req);
  std::vector<Attribution> parts;
  for (int64_t n = 0; n < req.input.dim(0); ++n) {
    ExplainRequest one = req;
    one.input = req.input.slice_batch(n, n + 1);
    one.targets = {req.targets[n]};
    one.first_sample = req.first_sample + n;  // per-sample random draws as in one batch
    parts.push_back(method(one));
  }
  Shape shape = parts[0].values.shape();
  shape[0] = req.input.dim(0);
  Attribution out = parts[0];
  out.values = Tensor(shape, parts[0].values.dtype(), parts[0].values.device());
  for (int64_t n = 0; n < shape[0]; ++n) {
    out.values.slice_batch(n, n + 1).copy_from(parts[n].values);
    if (n == 0) continue;
    for (auto& [key, value] : out.parameters) {
      const std::string& other = parts[n].parameters[key];
      if (other != parts[0].parameters[key] || value != parts[0].parameters[key]) value += "," + other;
    }
  }
  return out;
}

FeatureGroups feature_groups(const Options& options, const Tensor& x, bool tokens) {
  const Shape sample_shape(x.shape().begin() + 1, x.shape().end());
  std::string text = options.get("feature-mask", "");
  if (text.empty() && sample_shape.size() == 3) text = "grid:4";
  if (text.empty()) {  // one group per token (tokens) or per column (tabular (N, D))
    if (sample_shape.size() != 1)
      throw Error("--feature-mask is needed for inputs with samples of shape " + shape_str(sample_shape),
                  "give an int64 .npy of that shape with group ids 0..G-1");
    FeatureGroups out;
    out.count = sample_shape[0];
    out.source = tokens ? "tokens" : "columns";
    for (int64_t i = 0; i < out.count; ++i) out.group_of.push_back(i);
    return out;
  }
  if (text.rfind("grid:", 0) == 0) return grid_groups(text, sample_shape);
  if (text.rfind("slic:", 0) == 0) return slic_groups(text, x);
  return groups_from_mask(options.array("feature-mask"), sample_shape, text);
}

bool feature_mask_names_file(const std::string& value) {
  return !value.empty() && value.rfind("grid:", 0) != 0 && value.rfind("slic:", 0) != 0;
}

Tensor spread_groups(const std::vector<double>& per_group, const FeatureGroups& groups, const Shape& shape,
                     DType dtype) {
  const int64_t N = shape[0], per = shape_numel(shape) / N, G = groups.count;
  Tensor out(shape, DType::F64);
  double* o = out.data<double>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < per; ++i) o[n * per + i] = per_group[n * G + groups.group_of[i]];
  return out.to(dtype);
}

std::vector<double> Perturber::score_copies(int64_t S, const Fill& fill, const Done& done) const {
  const int64_t N = samples(), K_rows = model->exported_batch > 0
                                            ? 1
                                            : std::max<int64_t>(1, kRowsPerCall / N);  // Model::exported_batch
  std::vector<double> out(S * N);
  influence::Progress bar(label, S * N, progress && S * N >= 4096);
  Shape shape = x.shape();
  for (int64_t s0 = 0; s0 < S; s0 += K_rows) {
    const int64_t k = std::min(K_rows, S - s0);
    shape[0] = k * N;
    Tensor rows = Tensor::empty(shape, x.dtype());
    fill(s0, k, rows);  // host-written rows go to x's device; a fill may also replace them by device ones
    const Tape tape = model->forward({rows.to(x.device())});
    const std::vector<double> s = target_scores(tape_logits(*model, tape), repeat_targets(targets, k), score);
    std::copy(s.begin(), s.end(), out.begin() + s0 * N);
    if (done) done(s0, k, out.data() + s0 * N);
    bar.add(k * N);
  }
  return out;
}

std::vector<double> Perturber::coalition_scores(const std::vector<uint8_t>& Z, int64_t S,
                                                const FeatureGroups& groups) const {
  const int64_t N = samples(), D = per_sample(), G = groups.count;
  const int64_t* g_of = groups.group_of.data();
  // Copy j of sample n keeps feature i where z_j[group(i)] = 1 and takes the baseline (or the pad id)
  // elsewhere: a select (ops::where, exact) between x and the baseline, each repeated for the chunk's k
  // copies on x's device (made once for the first, largest chunk; later chunks use its first rows), under
  // the 0/1 mask (k·N, D) made on the host from Z.
  Tensor x_rep, other_rep;
  return score_copies(S, [&](int64_t s0, int64_t k, Tensor& rows) {
    if (!x_rep.defined()) {
      x_rep = repeat_rows(x.reshape({N, D}), k);
      other_rep = tokens ? ops::full({k * N, D}, static_cast<double>(pad_id), DType::I64, x.device())
                         : repeat_rows(baseline.reshape({N, D}), k);
    }
    std::vector<float> keep(static_cast<size_t>(k * N * D));
    for (int64_t j = 0; j < k; ++j)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < D; ++i) keep[(j * N + n) * D + i] = Z[(s0 + j) * G + g_of[i]];
    const Tensor mask = Tensor::from_vector({k * N, D}, keep).to(x.device());
    rows = ops::where(mask, x_rep.slice_batch(0, k * N), other_rep.slice_batch(0, k * N)).reshape(rows.shape());
  });
}

Perturber make_perturber(const ExplainRequest& req, const std::string& method) {
  Perturber p;
  p.model = req.model;
  p.x = model_input(req);
  p.tokens = !p.x.is_float();
  p.targets = req.targets;
  p.score = parse_score(req.options.get("score", "logit"));
  p.progress = req.progress;
  p.label = method;
  const std::string baseline = req.options.get("baseline", "");
  const std::string pad = req.options.get("pad-id", "");
  if (p.tokens) {
    if (p.x.ndim() != 2) throw Error(method + ": expected token ids (N, T), got " + p.x.describe());
    if (!baseline.empty())
      throw Error(method + ": --baseline applies to float inputs; token inputs take --pad-id",
                  "removed tokens are replaced by the --pad-id token");
    if (pad.empty()) throw Error(method + ": token inputs need --pad-id (the id that replaces removed tokens)");
    p.pad_id = req.options.get_int("pad-id", 0);
    if (p.pad_id < 0) throw Error("--pad-id " + pad + ": expected a token id >= 0");
    return p;
  }
  if (!pad.empty())
    throw Error(method + ": --pad-id applies to token inputs; float inputs take --baseline", "e.g. --baseline 0");
  Options b;
  b.values["baseline"] = baseline.empty() ? "0" : baseline;
  b.arrays = req.options.arrays;
  p.baseline = baseline_for(b, p.x);
  return p;
}

std::vector<uint8_t> kernel_shap_sample(int64_t G, int64_t K, uint64_t seed) {
  if (G < 2) throw Error("kernel-shap sampling needs at least 2 feature groups, got " + std::to_string(G));
  std::vector<double> cum(G, 0.0);  // cum[k] = Σ_{j=1..k} q_j, q_j = 1/(j(G−j))
  for (int64_t j = 1; j < G; ++j) cum[j] = cum[j - 1] + 1.0 / static_cast<double>(j * (G - j));
  const double total = cum[G - 1];
  SplitMix64 rng(seed);
  std::vector<uint8_t> Z(K * G, 0);
  std::vector<int64_t> p(G);
  for (int64_t r = 0; r < K; ++r) {
    const double u = rng.uniform();
    int64_t k = G - 1;
    for (int64_t j = 1; j < G; ++j)
      if (u < cum[j] / total) {
        k = j;
        break;
      }
    for (int64_t g = 0; g < G; ++g) p[g] = g;
    for (int64_t j = 0; j < k; ++j) {
      const int64_t t = j + static_cast<int64_t>(rng.uniform() * static_cast<double>(G - j));
      std::swap(p[j], p[t]);
      Z[r * G + p[j]] = 1;
    }
  }
  return Z;
}

Tensor baseline_set(const Options& options, const Tensor& x, const std::string& method) {
  const std::string path = options.get("baselines", "");
  if (path.empty()) {  // default: one all-zero baseline
    Shape one = x.shape();
    one[0] = 1;
    return Tensor(one, x.dtype(), x.device());
  }
  (void)method;
  const Tensor& b = options.array("baselines");
  Shape want = x.shape();
  want[0] = b.ndim() > 0 ? b.dim(0) : 0;
  if (!b.is_float() || b.shape() != want || want[0] < 1) {
    Shape j = x.shape();
    j[0] = -1;
    throw Error("--baselines " + path + ": expected float32 baselines (J" + shape_str(j).substr(3) +
                ", J >= 1, one sample's shape per row, got " + b.describe());
  }
  for (int64_t i = 0, i_end = b.numel(); i < i_end; ++i)
    if (!std::isfinite(b.item(i)))
      throw Error("--baselines " + path + ": element " + std::to_string(i) + " is not finite");
  return b.to(x.dtype()).to(x.device());  // read on the host, used beside x
}

void describe_groups(const FeatureGroups& groups, Attribution& a) {
  a.parameters["groups"] = std::to_string(groups.count);
  a.parameters["feature_mask"] = groups.source;
}

Attribution group_attribution(const ExplainRequest& req, const std::string& method, const GroupMethod& per_group) {
  if (groups_per_sample(req))
    return for_each_sample(req, [&](const ExplainRequest& one) { return group_attribution(one, method, per_group); });
  const Perturber p = make_perturber(req, method);
  const FeatureGroups groups = feature_groups(req.options, p.x, p.tokens);
  Attribution out{Tensor(), method, req.options.values, 0};
  const std::vector<double> values = per_group(req, p, groups, out);
  out.values = spread_groups(values, groups, p.x.shape(), req.model->dtype());
  describe_groups(groups, out);
  return out;
}

}  // namespace xdnn::explain
