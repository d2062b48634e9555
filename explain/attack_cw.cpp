// Carlini–Wagner L2 attack (Carlini & Wagner, "Towards evaluating the robustness of neural networks",
// IEEE S&P 2017, §V-A), targeted or untargeted.
//
// Change of variables (§V, "option 3" of §IV): x' = mid + half·tanh(w), mid = (hi + lo)/2,
// half = (hi − lo)/2, so every w gives an x' inside the box [lo, hi] and Adam runs unconstrained on w.
// w starts at atanh(0.999999·(x − mid)/half), the paper's code's factor keeping w finite on the box's edges.
//
// Per example, minimise ‖x' − x‖²₂ + c·f(x') with the logits Z = Z(x') and f6 (eq. in §IV-A):
//   targeted to t:         f = max(max_{i≠t} Z_i − Z_t, −κ)
//   untargeted, true y:    f = max(Z_y − max_{i≠y} Z_i, −κ)
// (first maximum on ties). ∂f/∂Z is +1 / −1 at the two logits while f > −κ, else 0; the model's backward
// carries it to x', and ∂x'/∂w = half·(1 − tanh²w).
//
// Binary search over c (the paper's code): c starts at initial_const; after a search step an example that
// succeeded takes c ← (lower + c)/2 with upper = c, one that did not takes lower = c and c ← 10c until some
// c succeeded, then the midpoint. Each search step restarts Adam (β = 0.9, 0.999, ε = 1e-8, PyTorch's form)
// from the initial w. An iterate counts when it succeeds with a margin > κ (attack_succeeded); the answer is
// the successful iterate of least L2 over all search steps, or x.
//
// Differences from the paper's code, each for a reason:
// - The iterate is rounded to float32 before the model sees it, so the written .npy is exactly what was
//   judged a success (a float64 iterate on the boundary could flip when saved).
// - The early abort is per example (the paper's code stops the whole batch when the batch's summed loss
//   stalls): an example stops when its loss is not below 0.9999× its value steps/10 iterations before, so
//   its result does not depend on which other examples share its batch.
// - L2 is measured to x itself, not to the tanh-space reconstruction of x.
#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/check.h"
#include "explain/attack.h"
#include "explain/targets.h"

namespace xdnn::explain {

namespace {

// Row n's "other" class: the largest logit except `label` (first on ties); K ≥ 2.
int64_t best_other(const Tensor& logits, int64_t n, int64_t label) {
  const int64_t K = logits.dim(1);
  int64_t best = -1;
  for (int64_t k = 0; k < K; ++k)
    if (k != label && (best < 0 || logits.item(n * K + k) > logits.item(n * K + best))) best = k;
  return best;
}

}  // namespace

std::vector<bool> attack_succeeded(const Tensor& logits, const std::vector<int64_t>& labels, bool targeted,
                                   double confidence) {
  const int64_t N = logits.dim(0), K = logits.dim(1);
  std::vector<bool> ok(static_cast<size_t>(N), false);
  if (K < 2) return ok;
  for (int64_t n = 0; n < N; ++n) {
    const double own = logits.item(n * K + labels[n]), other = logits.item(n * K + best_other(logits, n, labels[n]));
    ok[n] = (targeted ? own - other : other - own) > confidence;
  }
  return ok;
}

Tensor carlini_wagner_l2(const Model& model, const Tensor& x, const std::vector<int64_t>& labels,
                         const AttackOptions& opt) {
  const int64_t N = x.dim(0), D = x.numel() / std::max<int64_t>(N, 1);
  const double mid = 0.5 * (opt.box_hi + opt.box_lo), half = 0.5 * (opt.box_hi - opt.box_lo);
  const double beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;
  const double* x0 = x.data<double>();
  std::vector<double> w0(static_cast<size_t>(x.numel()));
  for (int64_t i = 0, i_end = x.numel(); i < i_end; ++i) w0[i] = std::atanh(0.999999 * (x0[i] - mid) / half);

  {  // Labels index the logits: check them against the class count before any work.
    const int64_t K = model.predict(x.slice_batch(0, 1).to(model.dtype())).dim(1);
    check(K >= 2, "attack cw-l2: the model has " + std::to_string(K) + " output(s), expected 2 or more classes");
    for (int64_t n = 0; n < N; ++n)
      if (labels[n] < 0 || labels[n] >= K)
        throw Error(std::string(opt.targeted ? "targets" : "labels") + ": class " + std::to_string(labels[n]) +
                    " of example " + std::to_string(n) + " is out of range for " + std::to_string(K) + " classes");
  }
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> c(static_cast<size_t>(N), opt.initial_const), lower(static_cast<size_t>(N), 0.0),
      upper(static_cast<size_t>(N), inf), best_l2(static_cast<size_t>(N), inf);
  Tensor best = x.clone();  // (N, ...) float64: the answer so far
  Tensor xp(x.shape(), DType::F64);
  const int in = model.inputs().at(0), out = logits_id(model);
  const int64_t abort_every = std::max<int64_t>(opt.steps / 10, 1);

  for (int64_t search = 0; search < opt.search_steps; ++search) {
    std::vector<double> w = w0, m(w0.size(), 0.0), v(w0.size(), 0.0);
    std::vector<double> prev_loss(static_cast<size_t>(N), inf);
    std::vector<bool> active(static_cast<size_t>(N), true), found(static_cast<size_t>(N), false);
    for (int64_t it = 0; it < opt.steps; ++it) {
      if (std::none_of(active.begin(), active.end(), [](bool a) { return a; })) break;
      // x' = mid + half·tanh(w), rounded to float32 (see the file comment).
      double* xpd = xp.data<double>();
      for (int64_t i = 0, i_end = xp.numel(); i < i_end; ++i)
        xpd[i] = static_cast<double>(static_cast<float>(mid + half * std::tanh(w[i])));
      Tape tape = model.forward({xp.to(model.dtype())});
      const Tensor& Z = tape_logits(model, tape);
      const int64_t K = Z.dim(1);
      const std::vector<bool> success = attack_succeeded(Z, labels, opt.targeted, opt.confidence);
      Tensor seed(Z.shape(), Z.dtype());  // c·∂f/∂Z, zero on stopped rows
      for (int64_t n = 0; n < N; ++n) {
        if (!active[n]) continue;
        double l2 = 0;
        for (int64_t i = n * D; i < (n + 1) * D; ++i) l2 += (xpd[i] - x0[i]) * (xpd[i] - x0[i]);
        const int64_t own = labels[n], other = best_other(Z, n, own);
        // f's inner difference d: what the attack must push below −κ.
        const int64_t up = opt.targeted ? other : own, down = opt.targeted ? own : other;
        const double d = Z.item(n * K + up) - Z.item(n * K + down);
        const double loss = l2 + c[n] * std::max(d, -opt.confidence);
        if (success[n]) {
          found[n] = true;
          if (l2 < best_l2[n]) {
            best_l2[n] = l2;
            std::copy(xpd + n * D, xpd + (n + 1) * D, best.data<double>() + n * D);
          }
        }
        if (opt.abort_early && it % abort_every == 0) {
          if (loss > prev_loss[n] * 0.9999) {
            active[n] = false;
            continue;
          }
          prev_loss[n] = loss;
        }
        if (d > -opt.confidence) {
          seed.set_item(n * K + up, c[n]);
          seed.set_item(n * K + down, -c[n]);
        }
      }
      const std::vector<Tensor> g = model.backward(tape, {{out, seed}});
      const Tensor gx = g.at(in).defined() ? g[in].to(DType::F64) : Tensor(x.shape(), DType::F64);
      const double* gxd = gx.data<double>();
      // Adam on w (PyTorch's form: bias-corrected moments), step it + 1, active rows only.
      const double bc1 = 1 - std::pow(beta1, static_cast<double>(it + 1)),
                   bc2 = 1 - std::pow(beta2, static_cast<double>(it + 1));
      for (int64_t n = 0; n < N; ++n) {
        if (!active[n]) continue;
        for (int64_t i = n * D; i < (n + 1) * D; ++i) {
          const double t = std::tanh(w[i]);
          const double grad = (2 * (xpd[i] - x0[i]) + gxd[i]) * half * (1 - t * t);
          m[i] = beta1 * m[i] + (1 - beta1) * grad;
          v[i] = beta2 * v[i] + (1 - beta2) * grad * grad;
          w[i] -= opt.lr * (m[i] / bc1) / (std::sqrt(v[i] / bc2) + adam_eps);
        }
      }
    }
    for (int64_t n = 0; n < N; ++n) {
      if (found[n]) {
        upper[n] = std::min(upper[n], c[n]);
        c[n] = 0.5 * (lower[n] + upper[n]);
      } else {
        lower[n] = std::max(lower[n], c[n]);
        c[n] = std::isfinite(upper[n]) ? 0.5 * (lower[n] + upper[n]) : 10 * c[n];
      }
    }
  }
  return best;
}

}  // namespace xdnn::explain
