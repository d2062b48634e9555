#include "explain/influence/lissa.h"
#include "engine/check.h"

#include <cmath>
#include <numeric>
#include <string>

#include "engine/error.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/random.h"

namespace xdnn::influence {

Tensor lissa(const std::function<Tensor(const Tensor&, const std::vector<int64_t>&)>& hvp, int64_t n, const Tensor& B,
             double damping, const LissaOptions& opt) {
  if (B.dtype() != DType::F64 || B.ndim() != 2) throw Error("lissa: expected float64 (k, P), got " + B.describe());
  check(opt.depth >= 1, "--lissa-depth: expected a positive number of steps");
  check(opt.repeats >= 1, "--lissa-repeats: expected a positive count");
  check(opt.scale > 0, "--lissa-scale: expected a positive number");
  check(opt.batch >= 1, "--lissa-batch: expected a positive count");
  check(n >= 1, "lissa: no training examples");
  // Every step through ops:: on B's device (the solvers' float64 vectors live on the host), in the order
  // h_j = (v + h) − (H_j h + λ h) / scale, each value rounded as written.
  const double bnorm = std::sqrt(ops::dot_all(B, B));
  const Tensor scale = ops::full({1}, opt.scale, DType::F64, B.device());
  const Tensor repeats = ops::full({1}, static_cast<double>(opt.repeats), DType::F64, B.device());
  Tensor out = ops::full(B.shape(), 0.0, DType::F64, B.device());
  Rng rng(opt.seed);
  std::vector<int64_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  const bool full = opt.batch >= n;
  for (int r = 0; r < opt.repeats; ++r) {
    Tensor h = B.clone();
    for (int j = 0; j < opt.depth; ++j) {
      std::vector<int64_t> rows;
      if (full) {
        rows = all;
      } else {  // uniform with replacement: each step's H_j is an unbiased estimate of H
        rows.resize(opt.batch);
        for (auto& i : rows) i = static_cast<int64_t>(rng.below(static_cast<uint64_t>(n)));
      }
      Tensor damped = hvp(h, rows);  // H_j h
      ops::axpy_inplace(damped, damping, h);
      h = ops::sub(ops::add(B, h), ops::div(damped, scale));
      const double norm = ops::dot_all(h, h);
      // ‖h_j‖ ≤ (j + 1)‖v‖ while the spectrum of (H_j + λI)/scale lies in [0, 2]; far beyond: divergence.
      if (!std::isfinite(norm) || std::sqrt(norm) > 1e6 * (1.0 + bnorm) * (j + 1))
        throw Error("LiSSA diverged at step " + std::to_string(j + 1) + " of repeat " + std::to_string(r + 1) +
                        " (scale " + std::to_string(opt.scale) +
                        " is below the largest eigenvalue of H + damping, or H + damping has a negative eigenvalue)",
                    "increase --lissa-scale or --damping");
    }
    ops::add_inplace(out, ops::div(ops::div(h, scale), repeats));
  }
  return out;
}

}  // namespace xdnn::influence
