// Influence functions (Koh & Liang 2017, "Understanding Black-box Predictions via Influence
// Functions", eq. 2 with the loss of a test point):
//   I[j,i] = −∇L(test_j)ᵀ (H + λI)⁻¹ ∇L(train_i)
// d L(test_j) / d ε when train_i's loss is up-weighted by ε in the mean training loss (Koh & Liang eq. 2
// with the chain rule of §2.1), H the Hessian of the MEAN training loss at the last checkpoint and λ the
// damping that makes it invertible for non-convex / over-parameterised models (Koh & Liang §4.2).
//
// Hessian-vector products are exact (no finite differences); (H + λI) s_j = ∇L(test_j) is solved for all
// test points at once by conjugate gradients (cg.h; --solver cg, the default) or estimated by LiSSA with
// mini-batch Hessians (lissa.h; --solver lissa). Two routes:
//   --params last-layer  H in closed form for the output layer (hessian.h): any model whose output node
//                        is fully connected (MLPs, CNNs, ...).
//   --params all         Pearlmutter's R-operator through the whole model (hvp.h): MLPs, CNNs with pooling,
//                        residual blocks and eval-mode batch norm; other nodes fail with an Error naming them.
// Negative I: up-weighting train_i lowers test_j's loss (a proponent), so the sign is opposite to
// TracIn's. --projection is not supported. Float32 models: the products are computed in float32, so CG
// stops at a relative residual of at least 1e-5.
#include <algorithm>
#include <functional>
#include <memory>
#include <string>

#include "engine/check.h"
#include "engine/ops.h"
#include "engine/ops_influence.h"
#include "explain/influence/cg.h"
#include "explain/influence/hessian.h"
#include "explain/influence/hvp.h"
#include "explain/influence/influence.h"
#include "explain/influence/lissa.h"

namespace xdnn::influence {

namespace {
// The curvature of the examples `rows` only (LiSSA's mini-batch Hessians on the last layer): its rows
// gathered (host tensors, hessian.h).
LastLayerCurvature curvature_rows(const LastLayerCurvature& c, const std::vector<int64_t>& rows) {
  LastLayerCurvature s = c;
  const Tensor index = Tensor::from_vector({static_cast<int64_t>(rows.size())}, rows);
  s.features = ops::gather_axis(c.features, index, 0);
  s.probs = ops::gather_axis(c.probs, index, 0);
  return s;
}
}  // namespace

Tensor influence_function(const std::vector<Model*>& checkpoints, const InfluenceData& data,
                          const InfluenceOptions& opt) {
  check(opt.projection <= 0, "influence-function: --projection is not supported");
  if (opt.solver != "cg" && opt.solver != "lissa")
    throw Error("--solver: expected 'cg' or 'lissa', got '" + opt.solver + "'");
  validate_inputs(checkpoints, nullptr, data, opt, /*need_test=*/true);
  Model& model = *checkpoints.back();
  const int64_t n_train = data.train_x.dim(0), n_test = data.test_x.dim(0);
  Progress bar("influence-function", 2 * n_train + n_test, opt.progress);

  LastLayerCurvature curv;
  std::unique_ptr<FullHvp> full;
  std::function<Tensor(const Tensor&)> hessian_times;
  std::function<Tensor(const Tensor&, const std::vector<int64_t>&)> batch_hessian_times;
  if (opt.params == ParamSet::LastLayer) {
    curv = last_layer_curvature(model, data.train_x, opt.chunk, &bar);
    hessian_times = [&](const Tensor& V) { return last_layer_hvp(curv, V); };
    batch_hessian_times = [&](const Tensor& V, const std::vector<int64_t>& rows) {
      return last_layer_hvp(curvature_rows(curv, rows), V);
    };
  } else {
    full = std::make_unique<FullHvp>(model, data.train_x, data.train_y, opt.chunk);
    hessian_times = [&](const Tensor& V) { return full->apply(V); };
    batch_hessian_times = [&](const Tensor& V, const std::vector<int64_t>& rows) { return full->apply(V, rows); };
    bar.add(n_train);
  }
  GradientComputer gc(model, opt.params);
  const int64_t P = gc.selection().size;
  const Device device = data.train_x.device();
  // The solvers work on float64 (k, P) matrices on the host (cg.h, lissa.h): the test gradients are copied
  // there, the Hessian products come back there (FullHvp::apply, last_layer_hvp).
  Tensor G_test({n_test, P}, DType::F64);
  for (int64_t b = 0; b < n_test; b += opt.chunk) {
    const int64_t e = std::min(n_test, b + opt.chunk);
    G_test.slice_batch(b, e).copy_from(
        dense_gradients(gc.compute(data.test_x.slice_batch(b, e), data.test_y.slice_batch(b, e))).to(DType::F64));
    bar.add(e - b);
  }
  const double damping = opt.damping;
  Tensor solution;
  if (opt.solver == "lissa") {
    solution = lissa(batch_hessian_times, n_train, G_test, damping, opt.lissa);
  } else {
    const CgResult sol = conjugate_gradient(
        [&](const Tensor& V) {
          Tensor HV = hessian_times(V);
          ops::axpy_inplace(HV, damping, V);
          return HV;
        },
        G_test, opt.cg_max_iterations,
        model.dtype() == DType::F32 ? std::max(opt.cg_tolerance, 1e-5) : opt.cg_tolerance);
    if (!sol.converged)
      throw Error("influence-function: conjugate gradients did not converge in " + std::to_string(sol.iterations) +
                      " iterations (relative residual " + std::to_string(sol.max_relative_residual) + ")",
                  "increase --damping");
    solution = sol.x;
  }

  // I = −s G(train)ᵀ on the device, a block of columns per training chunk written into I's columns (every
  // column written once; I never held twice).
  const Tensor sol = solution.to(device);
  Tensor I = Tensor::empty({n_test, n_train}, DType::F64, device);
  for (int64_t b = 0; b < n_train; b += opt.chunk) {
    const int64_t e = std::min(n_train, b + opt.chunk);
    const Tensor G =
        dense_gradients(gc.compute(data.train_x.slice_batch(b, e), data.train_y.slice_batch(b, e))).to(DType::F64);
    // −1 · x is exactly the negation (signed zeros included).
    ops::axpy_columns_into(I, b, -1.0, ops::matmul(sol, G, false, true), /*accumulate=*/false);  // (n_test, e − b)
    bar.add(e - b);
  }
  return I.to(model.dtype());
}

}  // namespace xdnn::influence
