#include "explain/influence/lissa.h"
#include "engine/check.h"

#include <cmath>
#include <numeric>
#include <string>

#include "engine/error.h"
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
  const int64_t numel = B.numel();
  const double* b = B.data<double>();
  double bnorm = 0;
  for (int64_t i = 0; i < numel; ++i) bnorm += b[i] * b[i];
  bnorm = std::sqrt(bnorm);
  Tensor out(B.shape(), DType::F64);
  double* o = out.data<double>();
  Rng rng(opt.seed);
  std::vector<int64_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  const bool full = opt.batch >= n;
  for (int r = 0; r < opt.repeats; ++r) {
    Tensor h = B.clone();
    double* hp = h.data<double>();
    for (int j = 0; j < opt.depth; ++j) {
      std::vector<int64_t> rows;
      if (full) {
        rows = all;
      } else {  // uniform with replacement: each step's H_j is an unbiased estimate of H
        rows.resize(opt.batch);
        for (auto& i : rows) i = static_cast<int64_t>(rng.below(static_cast<uint64_t>(n)));
      }
      const Tensor Hh = hvp(h, rows);
      const double* hh = Hh.data<double>();
      double norm = 0;
      for (int64_t i = 0; i < numel; ++i) {
        hp[i] = b[i] + hp[i] - (hh[i] + damping * hp[i]) / opt.scale;
        norm += hp[i] * hp[i];
      }
      // ‖h_j‖ ≤ (j + 1)‖v‖ while the spectrum of (H_j + λI)/scale lies in [0, 2]; far beyond: divergence.
      if (!std::isfinite(norm) || std::sqrt(norm) > 1e6 * (1.0 + bnorm) * (j + 1))
        throw Error("LiSSA diverged at step " + std::to_string(j + 1) + " of repeat " + std::to_string(r + 1) +
                        " (scale " + std::to_string(opt.scale) +
                        " is below the largest eigenvalue of H + damping, or H + damping has a negative eigenvalue)",
                    "increase --lissa-scale or --damping");
    }
    for (int64_t i = 0; i < numel; ++i) o[i] += hp[i] / opt.scale / opt.repeats;
  }
  return out;
}

}  // namespace xdnn::influence
