// TracInCP-fast (Pruthi et al. 2020, §3.2): TracIn / Grad-Dot / Grad-Cos / self-influence over the output
// layer z = W a + b without forming per-example gradients. g_n = [δ_n ⊗ a_n, δ_n] (per_example.h), so
//   ⟨g_j, g_i⟩ = (δ_j·δ_i)(a_j·a_i + 1),  ‖g_i‖² = ‖δ_i‖²(‖a_i‖² + 1),  S = Σ_c w_c (Δ_c Δ'_cᵀ) ⊙ (A_c A'_cᵀ + 1),
// two GEMMs per block and checkpoint, Δ (n, K) the seeds and A (n, in) the last-layer inputs, both from
// one inference-mode forward pass (no backward walk).
//
// How the work is laid out (issue 6: 60,000 train × 1,000 test × 3 checkpoints of fashion-cnn; the A
// products are 282 GFLOP, the forward passes ~100 GFLOP, S is 240 MB):
// - The training set is cut into units of kUnit examples (columns of S; fewer for small training sets,
//   so that there are units for every thread). A unit is one thread's work from start to end: per
//   checkpoint, its forward passes (kForwardBatch images each, so one pass's activations stay in the
//   core's L2), then its Gram blocks against the kept test factors folded straight into S
//   (ops::factored_gram_accumulate_into, engine/ops_influence.h: the two GEMMs and the fold). Ops called
//   inside run serially on that thread (parallel.h): no fork-join per layer or per GEMM, and neither core
//   waits for the other between ops.
// - Everything is an op on the data's device (CPU, Strict, CUDA), so a device takes this route too; on the
//   CPU and Strict the units are shared between the pool's threads, on CUDA (one stream) they run in turn.
// - Units are handed out one at a time from an atomic counter, so a thread slowed by other load on a
//   shared machine takes fewer, and the whole training set is one fork-join.
// - A unit's stripe of S (n_test × unit) is written at checkpoint 0 and updated at the others while it
//   is still in cache: S is written once, never zero-filled nor re-read from memory per checkpoint.
// - Several processes (MPI ranks, InfluenceOptions::ranks) each take some training examples; the test side
//   is split between them by whole forward batches and exchanged (all_gather), not repeated by each.
// Determinism: every element of S is computed by one thread, in the same order whichever thread it is
// (S = w_0 D_0 (A_0 + 1) + w_1 D_1 (A_1 + 1) + ..., checkpoints in order), from factors whose forward
// batches are fixed by the data alone, so S is bit-identical for any thread count.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>

#include "engine/check.h"
#include "engine/ops.h"
#include "engine/ops_influence.h"
#include "engine/parallel.h"
#include "explain/influence/influence.h"

namespace xdnn::influence {
namespace {

constexpr int64_t kForwardBatch = 16;  // images per forward pass
constexpr int64_t kUnit = 128;         // training examples per work unit, at most (a multiple of kForwardBatch)

// How many threads share the work units on `device`: the pool's on host memory (CPU, Strict); one on
// CUDA, whose ops queue on one stream (the device parallelises each op).
int64_t workers_on(Device device) { return device == Device::CUDA ? 1 : num_threads(); }

// Runs body(next) once on each of `workers` threads of the pool (once in all inside a parallel region);
// next() hands out the indices 0, 1, 2, ... one at a time, each to one caller, and values ≥ n once none
// is left. When a body throws, the others get no further index (the error surfaces at once, not after all
// the work).
template <class Body>
void share_indices(int64_t n, int64_t workers, const Body& body) {
  std::atomic<int64_t> counter{0};
  auto next = [&counter] { return counter.fetch_add(1, std::memory_order_relaxed); };
  parallel_for(std::min<int64_t>(workers, n), 1, [&](int64_t, int64_t) {
    try {
      body(next);
    } catch (...) {
      counter.store(n);
      throw;
    }
  });
}

// The factors of examples [b, e) at one checkpoint, written into rows [0, e − b) of delta (≥ e − b, K)
// and act (≥ e − b, in), one forward pass per kForwardBatch examples.
void factors_into(const GradientComputer& gc, const InfluenceData& data, bool test, int64_t b, int64_t e, Tensor& delta,
                  Tensor& act) {
  const Tensor& x = test ? data.test_x : data.train_x;
  const Tensor& y = test ? data.test_y : data.train_y;
  for (int64_t s = b; s < e; s += kForwardBatch) {
    const int64_t t = std::min(e, s + kForwardBatch);
    const LastLayerFactors f = gc.factors(x.slice_batch(s, t), y.slice_batch(s, t));
    if (f.delta.dim(1) != delta.dim(1) || f.act.dim(1) != act.dim(1))
      throw Error("influence: last-layer factors changed shape between batches: " + f.act.describe() + " after (" +
                  std::to_string(act.dim(0)) + ", " + std::to_string(act.dim(1)) + ")");
    delta.slice_batch(s - b, t - b).copy_from(f.delta);
    act.slice_batch(s - b, t - b).copy_from(f.act);
  }
}

// What both factored routes share: one GradientComputer per checkpoint, prepared for factors, and the
// factor widths. prepare() returns false when some checkpoint's selection is not one factored output
// node (the callers then take the generic route).
struct Factoring {
  std::vector<GradientComputer> gcs;
  int64_t K = 0, in = 0;
  double one = 0;  // 1 with a bias (g_n = [δ ⊗ a, δ]), 0 without
  DType dtype = DType::F32;
  Device device = Device::CPU;  // the data's: every buffer lives there

  bool prepare(const std::vector<Model*>& ckpts, const InfluenceData& data) {
    gcs.reserve(ckpts.size());
    for (Model* m : ckpts) {
      gcs.emplace_back(*m, ParamSet::LastLayer);
      // Decided on the training set's first examples (the generic route's probes run there too).
      if (!gcs.back().prepare_factors(data.train_x, data.train_y)) return false;
    }
    dtype = ckpts[0]->dtype();
    device = data.train_x.device();
    const LastLayerFactors probe = gcs[0].factors(data.train_x.slice_batch(0, 1), data.train_y.slice_batch(0, 1));
    K = probe.delta.dim(1);
    in = probe.act.dim(1);
    one = probe.bias ? 1.0 : 0.0;  // checkpoints share one architecture (validate_inputs)
    return true;
  }
};

// The training set in units of examples [unit · u, min(n_train, unit · (u + 1))), about 32 units or more,
// each a multiple of kForwardBatch so that forward batches are [16 k, 16 k + 16) whatever the unit size.
int64_t train_unit(int64_t n_train) {
  return std::min(kUnit, ((n_train + 31) / 32 + kForwardBatch - 1) / kForwardBatch * kForwardBatch);
}

// Runs the units [0, units) over the pool in one fork-join (no thread idles at round ends). make_work()
// is called once per thread and returns that thread's work(u) (holding its own buffers), which returns
// how many progress steps it did. Only the calling thread draws the bar, from a count the others add to;
// the bar ends at `steps`.
template <class MakeWork>
void over_units(int64_t units, int64_t workers, int64_t steps, Progress& bar, const MakeWork& make_work) {
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<int64_t> done{0};
  int64_t reported = 0;
  share_indices(units, workers, [&](const auto& next) {
    const bool draws = std::this_thread::get_id() == caller;
    auto work = make_work();
    for (int64_t u; (u = next()) < units;) {
      done.fetch_add(work(u), std::memory_order_relaxed);
      if (draws) {
        const int64_t now = done.load(std::memory_order_relaxed);
        bar.add(now - reported);
        reported = now;
      }
    }
  });
  bar.add(steps - reported);
}

}  // namespace

Tensor factored_scores(const std::vector<Model*>& ckpts, const std::vector<double>& weights, const InfluenceData& data,
                       bool cosine, Progress& bar, const InfluenceOptions& opt) {
  const int64_t n_test = data.test_x.dim(0), n_train = data.train_x.dim(0);
  const size_t C = ckpts.size();
  Factoring f;
  bool factored = f.prepare(ckpts, data);
  if (opt.ranks > 1) {  // decided on each process's own training examples: all take one route, or none
    check(static_cast<bool>(opt.all_gather), "influence: the test side is split over processes, but no all_gather");
    factored = opt.all_gather(factored ? "1" : "0").find('0') == std::string::npos;
  }
  if (!factored) return Tensor();
  const int64_t K = f.K, in = f.in;
  const DType dtype = f.dtype;
  const Device device = f.device;
  const int64_t workers = workers_on(device);

  // Test factors of every checkpoint, kept: (n_test, K) and (n_test, in) each; Grad-Cos also their norms.
  std::vector<Tensor> test_delta, test_act, test_norm;
  for (size_t c = 0; c < C; ++c) {
    test_delta.push_back(Tensor::empty({n_test, K}, dtype, device));
    test_act.push_back(Tensor::empty({n_test, in}, dtype, device));
    if (cosine) test_norm.push_back(Tensor::empty({n_test}, dtype, device));
  }
  // This process's forward batches of the test set, [batch0, batch0 + batches): all of them, or with
  // several processes its share (the first ones get ⌈batches / ranks⌉ each), the others' gathered below.
  const int64_t all_batches = (n_test + kForwardBatch - 1) / kForwardBatch;
  const int64_t per_rank = (all_batches + opt.ranks - 1) / opt.ranks;
  const int64_t batch0 = std::min(all_batches, opt.rank * per_rank);
  const int64_t test_batches = std::min(all_batches, batch0 + per_rank) - batch0;
  share_indices(static_cast<int64_t>(C) * test_batches, workers, [&](const auto& next) {
    for (int64_t i; (i = next()) < static_cast<int64_t>(C) * test_batches;) {
      const size_t c = static_cast<size_t>(i / test_batches);
      const int64_t b = (batch0 + i % test_batches) * kForwardBatch, e = std::min(n_test, b + kForwardBatch);
      Tensor d = test_delta[c].slice_batch(b, e), a = test_act[c].slice_batch(b, e);
      factors_into(f.gcs[c], data, /*test=*/true, b, e, d, a);
      if (cosine) test_norm[c].slice_batch(b, e).copy_from(ops::factor_norms(d, a, f.one, /*squared=*/false));
    }
  });
  const int64_t mine_b = std::min(n_test, batch0 * kForwardBatch);
  const int64_t mine_e = std::min(n_test, (batch0 + test_batches) * kForwardBatch);
  for (size_t c = 0; c < C; ++c) {
    gather_rows(opt, test_delta[c], mine_b, mine_e);
    gather_rows(opt, test_act[c], mine_b, mine_e);
    if (cosine) gather_rows(opt, test_norm[c], mine_b, mine_e);
  }
  bar.add(static_cast<int64_t>(C) * n_test);

  // Every element of S is written (checkpoint 0 assigns): no zero fill.
  Tensor S = Tensor::empty({n_test, n_train}, dtype, device);
  const int64_t unit = train_unit(n_train), units = (n_train + unit - 1) / unit;
  over_units(units, workers, n_train * static_cast<int64_t>(C), bar, [&] {
    // Per-thread buffers: one checkpoint's train factors.
    return [&, delta = Tensor::empty({unit, K}, dtype, device),
            act = Tensor::empty({unit, in}, dtype, device)](int64_t u) mutable {
      const int64_t b = u * unit, e = std::min(n_train, b + unit), n = e - b;
      for (size_t c = 0; c < C; ++c) {  // checkpoints in order: the same sum for any thread count
        factors_into(f.gcs[c], data, /*test=*/false, b, e, delta, act);
        const Tensor dc = delta.slice_batch(0, n), ac = act.slice_batch(0, n);
        const Tensor train_norm = cosine ? ops::factor_norms(dc, ac, f.one, /*squared=*/false) : Tensor();
        // S[:, b:e] (=, then +=) w_c (Δ_c dcᵀ) ⊙ (A_c acᵀ + one), Grad-Cos divided by the norms.
        ops::factored_gram_accumulate_into(S, b, test_delta[c], test_act[c], dc, ac, f.one, weights.at(c),
                                           /*add=*/c > 0, cosine ? test_norm[c] : Tensor(), train_norm);
      }
      return n * static_cast<int64_t>(C);  // the bar counts example·checkpoints
    };
  });
  return S;
}

Tensor factored_self_influence(const std::vector<Model*>& ckpts, const std::vector<double>& weights,
                               const InfluenceData& data, Progress& bar) {
  const int64_t n_train = data.train_x.dim(0);
  const size_t C = ckpts.size();
  Factoring f;
  if (!f.prepare(ckpts, data)) return Tensor();
  const DType dtype = f.dtype;
  const Device device = f.device;
  Tensor s = Tensor::empty({n_train}, dtype, device);  // every element written (checkpoint 0 assigns)
  const int64_t unit = train_unit(n_train), units = (n_train + unit - 1) / unit;
  over_units(units, workers_on(device), n_train * static_cast<int64_t>(C), bar, [&] {
    return [&, delta = Tensor::empty({unit, f.K}, dtype, device),
            act = Tensor::empty({unit, f.in}, dtype, device)](int64_t u) mutable {
      const int64_t b = u * unit, e = std::min(n_train, b + unit), n = e - b;
      Tensor out = s.slice_batch(b, e);
      for (size_t c = 0; c < C; ++c) {  // checkpoints in order: the same sum for any thread count
        factors_into(f.gcs[c], data, /*test=*/false, b, e, delta, act);
        const Tensor sq = ops::factor_norms(delta.slice_batch(0, n), act.slice_batch(0, n), f.one, /*squared=*/true);
        // out = w_0 sq_0, then out = fma(w_c, sq_c, out) (axpy's element), as before.
        if (c == 0)
          out.copy_from(ops::scale(sq, weights.at(c)));
        else
          ops::axpy_inplace(out, weights.at(c), sq);
      }
      return n * static_cast<int64_t>(C);
    };
  });
  return s;
}

}  // namespace xdnn::influence
