// Shared machinery of the influence methods: input validation, the streamed pairwise-score engine
// behind TracIn / Grad-Dot / Grad-Cos, and the progress bar.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

#include "engine/check.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/ops_influence.h"
#include "explain/finite.h"
#include "explain/influence/influence.h"

namespace xdnn::influence {

namespace {

double now_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

void check_same_architecture(const std::vector<Model*>& ckpts) {
  auto describe = [](Model& m) {
    std::vector<std::pair<std::string, Shape>> v;
    for (Param* p : m.params()) v.push_back({p->name, p->value.shape()});
    return v;
  };
  const auto first = describe(*ckpts[0]);
  for (size_t c = 1; c < ckpts.size(); ++c) {
    const auto other = describe(*ckpts[c]);
    const std::string where = "checkpoint " + std::to_string(c + 1) + " differs from checkpoint 1 in architecture: ";
    for (size_t i = 0; i < std::max(first.size(), other.size()); ++i) {
      if (i >= first.size()) throw Error(where + "extra parameter '" + other[i].first + "'");
      if (i >= other.size()) throw Error(where + "parameter '" + first[i].first + "' is missing");
      if (first[i].first != other[i].first)
        throw Error(where + "parameter " + std::to_string(i + 1) + " is '" + other[i].first + "', expected '" +
                    first[i].first + "'");
      if (first[i].second != other[i].second)
        throw Error(where + "parameter '" + first[i].first + "' has shape " + shape_str(other[i].second) +
                    ", expected " + shape_str(first[i].second));
    }
  }
}

Shape example_shape(const Tensor& x) { return Shape(x.shape().begin() + 1, x.shape().end()); }

void check_inputs(const Tensor& x, const std::string& what) {
  check(x.defined(), what + ": missing");
  if (x.ndim() < 1 || x.dim(0) < 1) throw Error(what + ": expected a non-empty batch (N, ...), got " + x.describe());
  const int64_t bad = explain::first_nonfinite(x);  // explain/finite.h: a vectorised scan
  if (bad >= 0) throw Error(what + ": element " + std::to_string(bad) + " is not finite");
}

// w · part (nj, ni), or for Grad-Cos w · part / (na[j] nb[i]) with 0 where that denominator is 0, added to
// columns [col0, col0 + ni) of `rows` (nj, n_train), a block of S's rows: every step an ops:: call, on the
// gradients' device.
void accumulate_block(Tensor& rows, int64_t col0, const Tensor& part, double w, const Tensor* na, const Tensor* nb) {
  Tensor v = part;
  if (na) {
    const Tensor den = ops::mul(na->reshape({na->numel(), 1}), nb->reshape({1, nb->numel()}));  // (nj, ni)
    const Tensor zero = ops::full({1}, 0.0, part.dtype(), part.device());
    v = ops::where(ops::unary(ops::Unary::Step, den), ops::div(part, den), zero);
  }
  ops::axpy_columns_into(rows, col0, w, v, /*accumulate=*/true);
}

// Test gradients are computed kTestRows at a time, whatever --chunk and the number of processes, so that a
// test example's gradient (hence S) has the same bits for any of them; small, so that a thousand test
// examples make enough sub-chunks to share between processes.
constexpr int64_t kTestRows = 32;

// One block of test rows [b, e) for the Gram products: its features (and norms for Grad-Cos), computed in
// sub-chunks of `sub` rows, so that no bit depends on how the sub-chunks are shared out: with several
// processes (opt.ranks) this one computes its share of them (the first processes ⌈subs / ranks⌉ each) and
// gathers the others' rows (gather_rows).
struct TestBlock {
  GramFeatures features;
  Tensor norms;
};
template <class Grads, class Norms>
TestBlock test_block(const Grads& grads, const Norms& norms, const InfluenceData& data, int64_t b, int64_t e,
                     int64_t sub, const InfluenceOptions& opt, bool cosine) {
  const int64_t n = e - b, subs = (n + sub - 1) / sub, per = (subs + opt.ranks - 1) / opt.ranks;
  const int64_t s0 = std::min(subs, opt.rank * per), s1 = std::min(subs, s0 + per);
  const int64_t mine_b = std::min(n, s0 * sub), mine_e = std::min(n, s1 * sub);  // this process's rows, from b
  std::vector<GramFeatures> parts;
  std::vector<Tensor> part_norms;
  for (int64_t s = s0; s < s1; ++s) {
    const int64_t r0 = b + s * sub, r1 = std::min(e, r0 + sub);
    const ChunkGrads g = grads(data.test_x.slice_batch(r0, r1), data.test_y.slice_batch(r0, r1));
    parts.push_back(gram_features(g));
    if (cosine) part_norms.push_back(norms(g));
  }
  if (opt.ranks == 1 && parts.size() == 1) return {parts[0], cosine ? part_norms[0] : Tensor()};
  // The layout (which blocks, their widths) from a part, or from one row when this process has none.
  const GramFeatures layout =
      !parts.empty() ? parts[0]
                     : gram_features(grads(data.test_x.slice_batch(b, b + 1), data.test_y.slice_batch(b, b + 1)));
  // rows [0, n) of one feature: this process's parts placed at their rows, the others' gathered.
  auto assemble = [&](const Tensor& like, const auto& get) {
    Shape shape = like.shape();
    shape[0] = n;
    Tensor full = Tensor::empty(shape, like.dtype(), like.device());
    int64_t r = mine_b;
    for (size_t i = 0; i < parts.size(); ++i) {
      const Tensor& t = get(i);
      full.slice_batch(r, r + t.dim(0)).copy_from(t);
      r += t.dim(0);
    }
    gather_rows(opt, full, mine_b, mine_e);
    return full;
  };
  TestBlock out;
  out.features.n = n;
  if (layout.dense.defined())
    out.features.dense = assemble(layout.dense, [&](size_t i) -> const Tensor& { return parts[i].dense; });
  for (size_t k = 0; k < layout.rank_one.size(); ++k)
    out.features.rank_one.push_back(
        {assemble(layout.rank_one[k].first, [&](size_t i) -> const Tensor& { return parts[i].rank_one[k].first; }),
         assemble(layout.rank_one[k].second, [&](size_t i) -> const Tensor& { return parts[i].rank_one[k].second; })});
  if (cosine) {
    const DType dtype = layout.dense.defined() ? layout.dense.dtype() : layout.rank_one.at(0).first.dtype();
    const Tensor like = part_norms.empty() ? Tensor::empty({1}, dtype, data.test_x.device()) : part_norms[0];
    out.norms = assemble(like, [&](size_t i) -> const Tensor& { return part_norms[i]; });
  }
  return out;
}

}  // namespace

void gather_rows(const InfluenceOptions& opt, Tensor& t, int64_t b, int64_t e) {
  if (opt.ranks == 1) return;
  check(static_cast<bool>(opt.all_gather), "influence: the test side is split over processes, but no all_gather");
  const auto row_bytes = static_cast<size_t>(t.numel() / std::max<int64_t>(1, t.dim(0)) * dtype_size(t.dtype()));
  // The processes exchange host bytes: a device tensor goes through a host copy and back.
  Tensor host = t.to(Device::CPU);
  char* p = static_cast<char*>(host.raw_data());
  const std::string all = opt.all_gather(std::string_view(p + b * row_bytes, (e - b) * row_bytes));
  if (all.size() != static_cast<size_t>(t.dim(0)) * row_bytes)
    throw Error("influence: the processes' test-side rows hold " + std::to_string(all.size()) + " bytes, expected " +
                std::to_string(t.dim(0) * row_bytes));
  std::memcpy(p, all.data(), all.size());
  if (t.device() != Device::CPU) t.copy_from(host);
}

void validate_inputs(const std::vector<Model*>& ckpts, const std::vector<double>* lrs, const InfluenceData& data,
                     const InfluenceOptions& opt, bool need_test) {
  check(!ckpts.empty(), "influence: no checkpoints given");
  check_same_architecture(ckpts);
  if (lrs && lrs->size() != ckpts.size())
    throw Error("--lr: " + std::to_string(lrs->size()) + " learning rate(s) for " + std::to_string(ckpts.size()) +
                " checkpoint(s); give one per checkpoint");
  if (lrs)
    for (double lr : *lrs) check(std::isfinite(lr), "--lr: learning rates must be finite");
  check(opt.projection >= 0, "--projection: expected a positive dimension");
  check(opt.chunk >= 1, "influence: chunk size must be positive");
  check(opt.damping >= 0, "--damping: expected a non-negative number");
  check_inputs(data.train_x, "train-x");
  if (need_test) {
    check_inputs(data.test_x, "test-x");
    if (data.test_x.dtype() != data.train_x.dtype() || example_shape(data.test_x) != example_shape(data.train_x))
      throw Error("test-x: examples are " + std::string(dtype_name(data.test_x.dtype())) + " " +
                  shape_str(example_shape(data.test_x)) + ", but train-x examples are " +
                  dtype_name(data.train_x.dtype()) + " " + shape_str(example_shape(data.train_x)));
  }
  // One example through the first checkpoint gives the number of classes.
  Model& m = *ckpts[0];
  Tensor x1 = data.train_x.slice_batch(0, 1);
  if (x1.is_float() && x1.dtype() != m.dtype()) x1 = x1.to(m.dtype());
  const Tensor logits = m.predict(x1);
  if (logits.ndim() != 2 || logits.dim(0) != 1)
    throw Error("influence: expected the model output to be (N, classes) logits, got " + logits.describe());
  const int64_t K = logits.dim(1);
  check_labels(data.train_y, data.train_x.dim(0), K, "train-y");
  if (need_test) check_labels(data.test_y, data.test_x.dim(0), K, "test-y");
  for (Model* c : ckpts) select_params(*c, opt.params);
}

Tensor pairwise_scores(const std::vector<Model*>& ckpts, const std::vector<double>& weights, const InfluenceData& data,
                       const InfluenceOptions& opt, bool cosine, const std::string& label) {
  const int64_t n_test = data.test_x.dim(0), n_train = data.train_x.dim(0);
  const int64_t chunk = opt.chunk;
  // Test gradients are kept; large test chunks make each train chunk's Gram products few, large GEMMs.
  const int64_t test_chunk = std::max<int64_t>(chunk, 1024);
  Progress bar(label, static_cast<int64_t>(ckpts.size()) * (n_test + n_train), opt.progress);
  const Device device = data.train_x.device();
  // The factored last-layer route (factored_scores.cpp, ops on the data's device).
  if (opt.projection == 0 && opt.params == ParamSet::LastLayer && opt.factored) {
    Tensor S = factored_scores(ckpts, weights, data, cosine, bar, opt);
    if (S.defined()) return S;
  }
  // S by training chunks: columns [b, e) of S get one (n_test, e − b) block per checkpoint, added in order
  // into S itself (zero-filled, on the device), so that S is never held twice.
  const Tensor S = ops::full({n_test, n_train}, 0.0, ckpts[0]->dtype(), device);
  std::unique_ptr<Projection> proj;
  for (size_t c = 0; c < ckpts.size(); ++c) {
    GradientComputer gc(*ckpts[c], opt.params);
    // One R for every checkpoint (same architecture, same seed): drawn once.
    if (opt.projection > 0 && !proj)
      proj = std::make_unique<Projection>(gc.selection().size, opt.projection, opt.seed, ckpts[c]->dtype(), device);
    auto grads = [&](const Tensor& x, const Tensor& y) {
      ChunkGrads g = gc.compute(x, y);
      return proj ? proj->apply(g) : g;
    };
    auto norms = [](const ChunkGrads& g) { return ops::unary(ops::Unary::Sqrt, squared_norms(g)); };
    std::vector<GramFeatures> test;
    std::vector<Tensor> test_norms;
    for (int64_t b = 0; b < n_test; b += test_chunk) {
      const int64_t e = std::min(n_test, b + test_chunk);
      TestBlock t = test_block(grads, norms, data, b, e, kTestRows, opt, cosine);
      test.push_back(std::move(t.features));
      if (cosine) test_norms.push_back(t.norms);
      bar.add(e - b);
    }
    for (int64_t b = 0; b < n_train; b += chunk) {
      const int64_t e = std::min(n_train, b + chunk);
      ChunkGrads g = grads(data.train_x.slice_batch(b, e), data.train_y.slice_batch(b, e));
      Tensor nb = cosine ? norms(g) : Tensor();
      const GramFeatures fb = gram_features(g);
      for (size_t t = 0; t < test.size(); ++t) {
        const int64_t r0 = static_cast<int64_t>(t) * test_chunk;
        Tensor rows = S.slice_batch(r0, r0 + test[t].n);  // rows of S: a contiguous view
        accumulate_block(rows, b, gram(test[t], fb), weights.at(c), cosine ? &test_norms[t] : nullptr,
                         cosine ? &nb : nullptr);
      }
      bar.add(e - b);
    }
  }
  return S;
}

Progress::Progress(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(std::max<int64_t>(total, 1)), enabled_(enabled), start_(now_seconds()) {}

Progress::~Progress() {
  if (enabled_ && last_ >= 0) draw(true);
}

void Progress::add(int64_t done) {
  done_ += done;
  if (!enabled_) return;
  const double t = now_seconds();
  if (last_ < 0 || t - last_ >= 0.2 || done_ >= total_) {
    last_ = t;
    draw(false);
  }
}

void Progress::draw(bool final) {
  const double frac = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
  const int width = 30, filled = static_cast<int>(frac * width);
  std::string bar(filled, '#');
  bar += std::string(width - filled, ' ');
  const double elapsed = now_seconds() - start_;
  // ETA from the mean rate so far: remaining work × elapsed / done (blank until something is done).
  char eta[32] = "";
  if (!final && done_ > 0 && done_ < total_)
    std::snprintf(eta, sizeof eta, ", ETA %.0f s  ", elapsed * static_cast<double>(total_ - done_) / done_);
  std::fprintf(stderr, "\r%s [%s] %3d%%  %lld/%lld  %.1f s%s%s", label_.c_str(), bar.c_str(),
               static_cast<int>(frac * 100), static_cast<long long>(done_), static_cast<long long>(total_), elapsed,
               eta, final ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace xdnn::influence
