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
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "explain/attack.h"
#include "explain/targets.h"

namespace xdnn::explain {

namespace {

// Row n's "other" class in host logits z (N, K): the largest logit except `label` (first on ties); K ≥ 2.
int64_t best_other(const std::vector<double>& z, int64_t K, int64_t n, int64_t label) {
  int64_t best = -1;
  for (int64_t k = 0; k < K; ++k)
    if (k != label && (best < 0 || z[n * K + k] > z[n * K + best])) best = k;
  return best;
}

// Success with margin > κ of every row of host logits z (N, K).
std::vector<bool> succeeded(const std::vector<double>& z, int64_t K, const std::vector<int64_t>& labels, bool targeted,
                            double confidence) {
  const int64_t N = static_cast<int64_t>(labels.size());
  std::vector<bool> ok(static_cast<size_t>(N), false);
  if (K < 2) return ok;
  for (int64_t n = 0; n < N; ++n) {
    const double own = z[n * K + labels[n]], other = z[n * K + best_other(z, K, n, labels[n])];
    ok[n] = (targeted ? own - other : other - own) > confidence;
  }
  return ok;
}

// 0 / 1 per row, spread over the row's D elements: a (N, D) float64 tensor on `device`, which rows an ops::where
// takes from its first operand (full-shape, so where() reads it in place instead of through an index table).
Tensor row_mask(const std::vector<bool>& rows, int64_t D, Device device) {
  std::vector<double> m(rows.size());
  for (size_t n = 0; n < rows.size(); ++n) m[n] = rows[n] ? 1.0 : 0.0;
  return ops::broadcast_to(Tensor::from_vector({static_cast<int64_t>(m.size()), 1}, m).to(device),
                           {static_cast<int64_t>(m.size()), D});
}

}  // namespace

std::vector<bool> attack_succeeded(const Tensor& logits, const std::vector<int64_t>& labels, bool targeted,
                                   double confidence) {
  check(logits.ndim() == 2 && logits.dim(0) == static_cast<int64_t>(labels.size()),
        "attack: expected logits (" + std::to_string(labels.size()) + ", K), got " + logits.describe());
  return succeeded(ops::value_vector(logits), logits.dim(1), labels, targeted, confidence);  // a host copy
}

// The iterates, moments and the answer are (N, D) float64 tensors on x's device, updated by ops; what
// comes back to the host per iteration is small: the logits (N, K) and the squared distances (N).
Tensor carlini_wagner_l2(const Model& model, const Tensor& x, const std::vector<int64_t>& labels,
                         const AttackOptions& opt) {
  const int64_t N = x.dim(0), D = x.numel() / std::max<int64_t>(N, 1);
  const double mid = 0.5 * (opt.box_hi + opt.box_lo), half = 0.5 * (opt.box_hi - opt.box_lo);
  const double beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;
  const Device device = x.device();
  const Tensor x0 = x.to(DType::F64).reshape({N, D});
  // w0 = atanh(0.999999·(x − mid)/half), once, from a host copy (no atanh op; the same numbers anywhere).
  std::vector<double> w0 = ops::value_vector(x0);
  for (double& v : w0) v = std::atanh(0.999999 * (v - mid) / half);
  const Tensor w_start = Tensor::from_vector({N, D}, w0).to(device);

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
  Tensor best = x0;  // (N, D) float64: the answer so far (replaced, never written in place)
  const int in = model.inputs().at(0), out = logits_id(model);
  const int64_t abort_every = std::max<int64_t>(opt.steps / 10, 1);

  for (int64_t search = 0; search < opt.search_steps; ++search) {
    Tensor w = w_start, m = ops::full({N, D}, 0.0, DType::F64, device), v = m;
    std::vector<double> prev_loss(static_cast<size_t>(N), inf);
    std::vector<bool> active(static_cast<size_t>(N), true), found(static_cast<size_t>(N), false);
    for (int64_t it = 0; it < opt.steps; ++it) {
      if (std::none_of(active.begin(), active.end(), [](bool a) { return a; })) break;
      // x' = mid + half·tanh(w), rounded to float32 (see the file comment).
      const Tensor t = ops::unary(ops::Unary::Tanh, w);
      const Tensor xp = ops::add_scalar(ops::scale(t, half), mid).to(DType::F32).to(DType::F64);
      const Tensor diff = ops::sub(xp, x0);  // x' − x
      const std::vector<double> l2s = ops::value_vector(ops::sum_to_shape(ops::mul(diff, diff), {N, 1}));
      Tape tape = model.forward({xp.reshape(x.shape()).to(model.dtype())});
      const Tensor& Z = tape_logits(model, tape);
      const int64_t K = Z.dim(1);
      const std::vector<double> z = ops::value_vector(Z);  // (N, K), a host copy
      const std::vector<bool> success = succeeded(z, K, labels, opt.targeted, opt.confidence);
      std::vector<double> seed(static_cast<size_t>(N * K), 0.0);  // c·∂f/∂Z, zero on stopped rows
      std::vector<bool> improved(static_cast<size_t>(N), false);
      for (int64_t n = 0; n < N; ++n) {
        if (!active[n]) continue;
        const double l2 = l2s[n];
        const int64_t own = labels[n], other = best_other(z, K, n, own);
        // f's inner difference d: what the attack must push below −κ.
        const int64_t up = opt.targeted ? other : own, down = opt.targeted ? own : other;
        const double d = z[n * K + up] - z[n * K + down];
        const double loss = l2 + c[n] * std::max(d, -opt.confidence);
        if (success[n]) {
          found[n] = true;
          if (l2 < best_l2[n]) best_l2[n] = l2, improved[n] = true;
        }
        if (opt.abort_early && it % abort_every == 0) {
          if (loss > prev_loss[n] * 0.9999) {
            active[n] = false;
            continue;
          }
          prev_loss[n] = loss;
        }
        if (d > -opt.confidence) {
          seed[n * K + up] = c[n];
          seed[n * K + down] = -c[n];
        }
      }
      best = ops::where(row_mask(improved, D, device), xp, best);
      const std::vector<Tensor> g =
          model.backward(tape, {{out, Tensor::from_vector({N, K}, seed).to(Z.dtype()).to(device)}});
      const Tensor gx =
          g.at(in).defined() ? g[in].to(DType::F64).reshape({N, D}) : ops::full({N, D}, 0.0, DType::F64, device);
      // ∂/∂w of ‖x' − x‖² + c·f: (2(x' − x) + ∂(c·f)/∂x') · half · (1 − tanh²w).
      const Tensor grad = ops::mul(ops::scale(ops::add(ops::scale(diff, 2.0), gx), half),
                                   ops::add_scalar(ops::scale(ops::mul(t, t), -1.0), 1.0));
      // Adam on w (PyTorch's form: bias-corrected moments), step it + 1, active rows only.
      const double bc1 = 1 - std::pow(beta1, static_cast<double>(it + 1)),
                   bc2 = 1 - std::pow(beta2, static_cast<double>(it + 1));
      const Tensor m_new = ops::add(ops::scale(m, beta1), ops::scale(grad, 1 - beta1));
      const Tensor v_new = ops::add(ops::scale(v, beta2), ops::scale(ops::mul(grad, grad), 1 - beta2));
      const Tensor step = ops::div(ops::scale(m_new, 1 / bc1),
                                   ops::add_scalar(ops::unary(ops::Unary::Sqrt, ops::scale(v_new, 1 / bc2)), adam_eps));
      const Tensor act = row_mask(active, D, device);
      w = ops::where(act, ops::sub(w, ops::scale(step, opt.lr)), w);
      m = ops::where(act, m_new, m);
      v = ops::where(act, v_new, v);
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
  return best.reshape(x.shape());
}

}  // namespace xdnn::explain
