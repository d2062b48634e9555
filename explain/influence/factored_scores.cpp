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
//   core's L2), then its Gram blocks against the kept test factors, kTestBlock test rows at a time,
//   folded straight into S. Ops called inside run serially on that thread (parallel.h): no fork-join
//   per layer or per GEMM, and neither core waits for the other between ops.
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
#include "engine/dispatch.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "explain/influence/influence.h"

namespace xdnn::influence {
namespace {

constexpr int64_t kForwardBatch = 16;  // images per forward pass
constexpr int64_t kUnit = 128;         // training examples per work unit, at most (a multiple of kForwardBatch)
// Test rows per Gram block. Each block's GEMM packs the unit's train factors again (a transposing copy
// of 128 × in values), so blocks are large: one for up to 1024 test examples; its two (1024, 128)
// products are 1 MB, half the core's L2 (measured: 256-row blocks cost ~8 % more GEMM time).
constexpr int64_t kTestBlock = 1024;

// Runs body(next) once on each thread of the pool (once in all inside a parallel region); next() hands
// out the indices 0, 1, 2, ... one at a time, each to one caller, and values ≥ n once none is left. When
// a body throws, the others get no further index (the error surfaces at once, not after all the work).
template <class Body>
void share_indices(int64_t n, const Body& body) {
  std::atomic<int64_t> counter{0};
  auto next = [&counter] { return counter.fetch_add(1, std::memory_order_relaxed); };
  parallel_for(std::min<int64_t>(num_threads(), n), 1, [&](int64_t, int64_t) {
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

// (rows, cols) view of the first rows·cols elements of a flat buffer.
Tensor view(const Tensor& flat, int64_t rows, int64_t cols) {
  return flat.slice_batch(0, rows * cols).reshape({rows, cols});
}

// S[r0 + j, c0 + i] (=, or += when `add`) w · v,  v = D[j, i] · (A[j, i] + one)   (D, A: (nj, ni)),
// or for Grad-Cos (norms given) v / (test_norm[j] · train_norm[i]), 0 where a norm is 0 — the generic
// route's rule (common.cpp), so a zero gradient scores 0 rather than NaN.
template <class T>
void fold_block_typed(Tensor& S, int64_t r0, int64_t c0, const Tensor& D, const Tensor& A, T one, T w, bool add,
                      const T* test_norm, const T* train_norm) {
  T* s = S.data<T>();
  const T *d = D.data<T>(), *a = A.data<T>();
  const int64_t cols = S.dim(1), nj = D.dim(0), ni = D.dim(1);
  for (int64_t j = 0; j < nj; ++j) {
    T* row = s + (r0 + j) * cols + c0;
    const T *dr = d + j * ni, *ar = a + j * ni;
    if (test_norm) {
      for (int64_t i = 0; i < ni; ++i) {
        const T den = test_norm[j] * train_norm[i];
        const T v = den > 0 ? dr[i] * (ar[i] + one) / den : T(0);
        row[i] = add ? row[i] + w * v : w * v;
      }
    } else if (add) {
      for (int64_t i = 0; i < ni; ++i) row[i] += w * dr[i] * (ar[i] + one);
    } else {
      for (int64_t i = 0; i < ni; ++i) row[i] = w * dr[i] * (ar[i] + one);
    }
  }
}

// ‖g_n‖² = ‖δ_n‖² (‖a_n‖² + one) for rows [0, n) of the factors (g_n = [δ_n ⊗ a_n, δ_n]), or its square
// root when !squared; written to out[0, n).
template <class T>
void factor_norms(const Tensor& delta, const Tensor& act, int64_t n, T one, bool squared, T* out) {
  const int64_t K = delta.dim(1), in = act.dim(1);
  const T *d = delta.data<T>(), *a = act.data<T>();
  for (int64_t r = 0; r < n; ++r) {
    T dd = 0, aa = 0;
    for (int64_t k = 0; k < K; ++k) dd += d[r * K + k] * d[r * K + k];
    for (int64_t k = 0; k < in; ++k) aa += a[r * in + k] * a[r * in + k];
    out[r] = squared ? dd * (aa + one) : std::sqrt(dd * (aa + one));
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

  bool prepare(const std::vector<Model*>& ckpts, const InfluenceData& data) {
    gcs.reserve(ckpts.size());
    for (Model* m : ckpts) {
      gcs.emplace_back(*m, ParamSet::LastLayer);
      // Decided on the training set's first examples (the generic route's probes run there too).
      if (!gcs.back().prepare_factors(data.train_x, data.train_y)) return false;
    }
    dtype = ckpts[0]->dtype();
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
void over_units(int64_t units, int64_t steps, Progress& bar, const MakeWork& make_work) {
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<int64_t> done{0};
  int64_t reported = 0;
  share_indices(units, [&](const auto& next) {
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

  // Test factors of every checkpoint, kept: (n_test, K) and (n_test, in) each; Grad-Cos also their norms.
  std::vector<Tensor> test_delta, test_act, test_norm;
  for (size_t c = 0; c < C; ++c) {
    test_delta.push_back(Tensor::empty({n_test, K}, dtype));
    test_act.push_back(Tensor::empty({n_test, in}, dtype));
    if (cosine) test_norm.push_back(Tensor::empty({n_test}, dtype));
  }
  // This process's forward batches of the test set, [batch0, batch0 + batches): all of them, or with
  // several processes its share (the first ones get ⌈batches / ranks⌉ each), the others' gathered below.
  const int64_t all_batches = (n_test + kForwardBatch - 1) / kForwardBatch;
  const int64_t per_rank = (all_batches + opt.ranks - 1) / opt.ranks;
  const int64_t batch0 = std::min(all_batches, opt.rank * per_rank);
  const int64_t test_batches = std::min(all_batches, batch0 + per_rank) - batch0;
  share_indices(static_cast<int64_t>(C) * test_batches, [&](const auto& next) {
    for (int64_t i; (i = next()) < static_cast<int64_t>(C) * test_batches;) {
      const size_t c = static_cast<size_t>(i / test_batches);
      const int64_t b = (batch0 + i % test_batches) * kForwardBatch, e = std::min(n_test, b + kForwardBatch);
      Tensor d = test_delta[c].slice_batch(b, e), a = test_act[c].slice_batch(b, e);
      factors_into(f.gcs[c], data, /*test=*/true, b, e, d, a);
      if (cosine)
        dispatch_float(dtype, [&](auto zero) {
          using T = decltype(zero);
          factor_norms<T>(d, a, e - b, static_cast<T>(f.one), /*squared=*/false, test_norm[c].data<T>() + b);
          return 0;
        });
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
  Tensor S = Tensor::empty({n_test, n_train}, dtype);
  const int64_t unit = train_unit(n_train), units = (n_train + unit - 1) / unit;
  over_units(units, n_train * static_cast<int64_t>(C), bar, [&] {
    // Per-thread buffers: one checkpoint's train factors (and norms), one block's two products.
    const int64_t block = std::min(n_test, kTestBlock);
    return [&, delta = Tensor::empty({unit, K}, dtype), act = Tensor::empty({unit, in}, dtype),
            norm = Tensor::empty({unit}, dtype), D_buf = Tensor::empty({block * unit}, dtype),
            A_buf = Tensor::empty({block * unit}, dtype)](int64_t u) mutable {
      const int64_t b = u * unit, e = std::min(n_train, b + unit), n = e - b;
      for (size_t c = 0; c < C; ++c) {
        factors_into(f.gcs[c], data, /*test=*/false, b, e, delta, act);
        const Tensor dc = delta.slice_batch(0, n), ac = act.slice_batch(0, n);
        for (int64_t r0 = 0; r0 < n_test; r0 += kTestBlock) {
          const int64_t r1 = std::min(n_test, r0 + kTestBlock);
          Tensor D = view(D_buf, r1 - r0, n), A = view(A_buf, r1 - r0, n);
          ops::matmul_into(test_delta[c].slice_batch(r0, r1), dc, D, false, true, 1.0, 0.0);  // (r1 − r0, n)
          ops::matmul_into(test_act[c].slice_batch(r0, r1), ac, A, false, true, 1.0, 0.0);    // (r1 − r0, n)
          dispatch_float(dtype, [&](auto zero) {
            using T = decltype(zero);
            const T one = static_cast<T>(f.one);
            if (cosine && r0 == 0) factor_norms<T>(delta, act, n, one, /*squared=*/false, norm.data<T>());
            fold_block_typed<T>(S, r0, b, D, A, one, static_cast<T>(weights.at(c)), /*add=*/c > 0,
                                cosine ? test_norm[c].data<T>() + r0 : nullptr, cosine ? norm.data<T>() : nullptr);
            return 0;
          });
        }
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
  Tensor s = Tensor::empty({n_train}, dtype);  // every element written (checkpoint 0 assigns)
  const int64_t unit = train_unit(n_train), units = (n_train + unit - 1) / unit;
  over_units(units, n_train * static_cast<int64_t>(C), bar, [&] {
    return [&, delta = Tensor::empty({unit, f.K}, dtype), act = Tensor::empty({unit, f.in}, dtype),
            sq = Tensor::empty({unit}, dtype)](int64_t u) mutable {
      const int64_t b = u * unit, e = std::min(n_train, b + unit), n = e - b;
      for (size_t c = 0; c < C; ++c) {  // checkpoints in order: the same sum for any thread count
        factors_into(f.gcs[c], data, /*test=*/false, b, e, delta, act);
        dispatch_float(dtype, [&](auto zero) {
          using T = decltype(zero);
          factor_norms<T>(delta, act, n, static_cast<T>(f.one), /*squared=*/true, sq.data<T>());
          const T w = static_cast<T>(weights.at(c));
          T* out = s.data<T>() + b;
          for (int64_t i = 0; i < n; ++i) out[i] = c > 0 ? out[i] + w * sq.data<T>()[i] : w * sq.data<T>()[i];
          return 0;
        });
      }
      return n * static_cast<int64_t>(C);
    };
  });
  return s;
}

}  // namespace xdnn::influence
