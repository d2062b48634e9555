// TracIn self-influence (Pruthi et al. 2020, §3.2 and §4.1): s_i = Σ_c lr_c ‖g_c(train_i)‖², the
// influence of a training example on its own loss. Large values flag examples the model had to work
// hardest to fit — mislabelled or atypical ones — which is how the paper ranks data for inspection.
#include <algorithm>
#include <memory>

#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "explain/influence/influence.h"

namespace xdnn::influence {

Tensor self_influence(const std::vector<Model*>& checkpoints, const std::vector<double>& lrs, const InfluenceData& data,
                      const InfluenceOptions& opt) {
  validate_inputs(checkpoints, &lrs, data, opt, /*need_test=*/false);
  const int64_t n = data.train_x.dim(0);
  const Device device = data.train_x.device();
  Tensor s = ops::full({n}, 0.0, checkpoints[0]->dtype(), device);
  Progress bar("self-influence", static_cast<int64_t>(checkpoints.size()) * n, opt.progress);
  // The factored last-layer route (factored_scores.cpp, ops on the data's device).
  if (opt.projection == 0 && opt.params == ParamSet::LastLayer && opt.factored) {
    Tensor f = factored_self_influence(checkpoints, lrs, data, bar);
    if (f.defined()) return f;
  }
  std::unique_ptr<Projection> proj;
  for (size_t c = 0; c < checkpoints.size(); ++c) {
    GradientComputer gc(*checkpoints[c], opt.params);
    // One R for every checkpoint (same architecture, same seed): drawn once.
    if (opt.projection > 0 && !proj)
      proj =
          std::make_unique<Projection>(gc.selection().size, opt.projection, opt.seed, checkpoints[c]->dtype(), device);
    for (int64_t b = 0; b < n; b += opt.chunk) {
      const int64_t e = std::min(n, b + opt.chunk);
      ChunkGrads g = gc.compute(data.train_x.slice_batch(b, e), data.train_y.slice_batch(b, e));
      if (proj) g = proj->apply(g);
      Tensor rows = s.slice_batch(b, e);  // a view: s[b..e) += lr_c ‖g‖²
      ops::axpy_inplace(rows, lrs[c], squared_norms(g));
      bar.add(e - b);
    }
  }
  return s;
}

}  // namespace xdnn::influence
