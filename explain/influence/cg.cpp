#include "explain/influence/cg.h"

#include <cmath>
#include <vector>

#include "engine/ops.h"

namespace xdnn::influence {

namespace {
double row_dot(const double* a, const double* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
}  // namespace

CgResult conjugate_gradient(const std::function<Tensor(const Tensor&)>& apply, const Tensor& B, int max_iterations,
                            double tolerance) {
  if (B.dtype() != DType::F64 || B.ndim() != 2)
    throw Error("conjugate_gradient: expected float64 (k, P), got " + B.describe());
  const int64_t k = B.dim(0), P = B.dim(1);
  CgResult res;
  res.x = Tensor(B.shape(), DType::F64);
  Tensor R = B.clone(), Pd = B.clone();
  double *x = res.x.data<double>(), *r = R.data<double>(), *p = Pd.data<double>();
  const double* b = B.data<double>();
  std::vector<double> rs(k), bnorm(k);
  std::vector<bool> done(k);
  for (int64_t j = 0; j < k; ++j) {
    rs[j] = row_dot(r + j * P, r + j * P, P);
    bnorm[j] = std::sqrt(row_dot(b + j * P, b + j * P, P));
    done[j] = std::sqrt(rs[j]) <= tolerance * bnorm[j];
    if (done[j]) std::fill(p + j * P, p + (j + 1) * P, 0.0);
  }
  auto all_done = [&] {
    for (int64_t j = 0; j < k; ++j)
      if (!done[j]) return false;
    return true;
  };
  while (res.iterations < max_iterations && !all_done()) {
    ++res.iterations;
    const Tensor AP = apply(Pd);
    const double* ap = AP.data<double>();
    for (int64_t j = 0; j < k; ++j) {
      if (done[j]) continue;
      double* pj = p + j * P;
      const double pap = row_dot(pj, ap + j * P, P);
      if (!(pap > 0))
        throw Error("conjugate gradients: the matrix is not positive definite along a search direction (pᵀAp = " +
                        std::to_string(pap) + ")",
                    "increase --damping");
      const double alpha = rs[j] / pap;
      double *xj = x + j * P, *rj = r + j * P;
      for (int64_t i = 0; i < P; ++i) {
        xj[i] += alpha * pj[i];
        rj[i] -= alpha * ap[j * P + i];
      }
      const double rs_new = row_dot(rj, rj, P);
      if (std::sqrt(rs_new) <= tolerance * bnorm[j]) {
        done[j] = true;
        std::fill(pj, pj + P, 0.0);
        continue;
      }
      const double beta = rs_new / rs[j];
      for (int64_t i = 0; i < P; ++i) pj[i] = rj[i] + beta * pj[i];
      rs[j] = rs_new;
    }
  }
  // The recursively updated residual drifts; report the true one.
  const Tensor AX = apply(res.x);
  const double* ax = AX.data<double>();
  for (int64_t j = 0; j < k; ++j) {
    double s = 0;
    for (int64_t i = 0; i < P; ++i) s += (b[j * P + i] - ax[j * P + i]) * (b[j * P + i] - ax[j * P + i]);
    const double rel = bnorm[j] > 0 ? std::sqrt(s) / bnorm[j] : std::sqrt(s);
    res.max_relative_residual = std::max(res.max_relative_residual, rel);
  }
  res.converged = all_done();
  return res;
}

}  // namespace xdnn::influence
