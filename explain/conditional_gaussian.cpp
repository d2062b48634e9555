// Gaussian fit and conditioning; see conditional_gaussian.h.
#include "explain/conditional_gaussian.h"

// Eigen 3.4's AVX bf16 path trips -Wunused-variable; the header is not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#include <Eigen/Dense>
#pragma GCC diagnostic pop

#include "engine/check.h"
#include "engine/random.h"

namespace xdnn::explain {

namespace {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

std::vector<double> to_vector(const Matrix& m) { return std::vector<double>(m.data(), m.data() + m.size()); }

}  // namespace

GaussianFit::GaussianFit(int64_t dim) : dim_(dim), sum_(dim, 0.0), outer_(dim * dim, 0.0) {
  check(dim >= 1, "internal: a Gaussian needs dim >= 1");
}

void GaussianFit::add(const double* rows, int64_t count) {
  if (count < 1) return;
  if (count_ == 0) shift_.assign(rows, rows + dim_);
  const Eigen::Map<const Matrix> X(rows, count, dim_);
  const Eigen::Map<const Eigen::RowVectorXd> s(shift_.data(), dim_);
  const Matrix Y = X.rowwise() - s;
  // Both reductions go into Eigen-owned (aligned) temporaries first: Eigen peels unaligned leading elements
  // off its vectorised loops, so a product accumulated straight into the std::vector's storage summed in an
  // order that depended on where the allocator put it (different last bits between two identical calls).
  const Eigen::RowVectorXd column_sums = Y.colwise().sum();
  const Matrix outer = Y.transpose() * Y;
  Eigen::Map<Eigen::RowVectorXd>(sum_.data(), dim_) += column_sums;
  Eigen::Map<Matrix>(outer_.data(), dim_, dim_) += outer;
  count_ += count;
}

void GaussianFit::add_sums(int64_t count, const std::vector<double>& first_row, const std::vector<double>& column_sums,
                           const std::vector<double>& outer) {
  if (count < 1) return;
  check(static_cast<int64_t>(column_sums.size()) == dim_ && static_cast<int64_t>(outer.size()) == dim_ * dim_ &&
            (count_ > 0 || static_cast<int64_t>(first_row.size()) == dim_),
        "internal: GaussianFit::add_sums needs dim and dim x dim sums (and the first row)");
  if (count_ == 0) shift_ = first_row;
  for (int64_t i = 0; i < dim_; ++i) sum_[i] += column_sums[i];
  for (int64_t i = 0; i < dim_ * dim_; ++i) outer_[i] += outer[i];
  count_ += count;
}

Gaussian GaussianFit::finish(double ridge) const {
  check(count_ >= 1, "internal: a Gaussian fitted to no samples");
  const double M = static_cast<double>(count_);
  const Eigen::RowVectorXd ybar = Eigen::Map<const Eigen::RowVectorXd>(sum_.data(), dim_) / M;
  Matrix cov = Eigen::Map<const Matrix>(outer_.data(), dim_, dim_) / M - ybar.transpose() * ybar;
  cov = (cov + cov.transpose()) / 2.0;
  cov.diagonal().array() += ridge * cov.trace() / static_cast<double>(dim_) + 1e-12;
  Gaussian g;
  g.dim = dim_;
  g.mean.resize(dim_);
  for (int64_t i = 0; i < dim_; ++i) g.mean[i] = shift_[i] + ybar(i);
  g.cov = to_vector(cov);
  return g;
}

Gaussian fit_gaussian(const std::vector<double>& rows, int64_t count, int64_t dim, double ridge) {
  check(count >= 1 && static_cast<int64_t>(rows.size()) == count * dim,
        "internal: fit_gaussian needs count x dim values");
  GaussianFit fit(dim);
  fit.add(rows.data(), count);
  return fit.finish(ridge);
}

ConditionalGaussian condition(const Gaussian& g, const std::vector<int64_t>& free, const std::vector<int64_t>& given) {
  const int64_t da = static_cast<int64_t>(free.size()), db = static_cast<int64_t>(given.size());
  check(da >= 1, "internal: condition() needs at least one free coordinate");
  const Eigen::Map<const Matrix> S(g.cov.data(), g.dim, g.dim);
  Matrix Saa(da, da), Sab(da, db), Sbb(db, db);
  for (int64_t i = 0; i < da; ++i) {
    for (int64_t j = 0; j < da; ++j) Saa(i, j) = S(free[i], free[j]);
    for (int64_t j = 0; j < db; ++j) Sab(i, j) = S(free[i], given[j]);
  }
  for (int64_t i = 0; i < db; ++i)
    for (int64_t j = 0; j < db; ++j) Sbb(i, j) = S(given[i], given[j]);
  ConditionalGaussian c;
  c.free = free;
  c.given = given;
  for (int64_t i : free) c.mean_free.push_back(g.mean.at(i));
  for (int64_t i : given) c.mean_given.push_back(g.mean.at(i));
  Matrix gain(da, db), cov = Saa;
  if (db > 0) {
    // gain = Σ_ab Σ_bb⁻¹, i.e. Σ_bb gainᵀ = Σ_ba (Σ_bb symmetric positive definite after the ridge).
    const Eigen::LLT<Matrix> llt(Sbb);
    check(llt.info() == Eigen::Success, "conditional Gaussian: the frame's covariance is not positive definite");
    gain = llt.solve(Sab.transpose()).transpose();
    cov = Saa - gain * Sab.transpose();
    cov = (cov + cov.transpose()) / 2.0;  // symmetric to the last bit before factorising
  }
  // The Schur complement of a positive definite matrix is positive definite; rounding may still leave a
  // tiny negative pivot when the data make it nearly singular: add the smallest jitter that factorises.
  Eigen::LLT<Matrix> chol(cov);
  double jitter = 1e-12 * (1.0 + cov.trace() / static_cast<double>(da));
  while (chol.info() != Eigen::Success && jitter < 1e6) {
    Matrix bumped = cov;
    bumped.diagonal().array() += jitter;
    chol.compute(bumped);
    jitter *= 10;
  }
  check(chol.info() == Eigen::Success, "conditional Gaussian: the conditional covariance is not positive definite");
  c.gain = to_vector(gain);
  c.cov = to_vector(cov);
  c.chol = to_vector(Matrix(chol.matrixL()));
  return c;
}

void ConditionalGaussian::mean(const double* x_given, double* out) const {
  const int64_t da = static_cast<int64_t>(free.size()), db = static_cast<int64_t>(given.size());
  for (int64_t i = 0; i < da; ++i) {
    double s = mean_free[i];
    const double* row = gain.data() + i * db;
    for (int64_t j = 0; j < db; ++j) s += row[j] * (x_given[j] - mean_given[j]);
    out[i] = s;
  }
}

void ConditionalGaussian::sample(const double* x_given, Rng& rng, double* out) const {
  const int64_t da = static_cast<int64_t>(free.size());
  mean(x_given, out);
  std::vector<double> z(da);
  for (double& v : z) v = rng.normal();
  for (int64_t i = 0; i < da; ++i) {
    const double* row = chol.data() + i * da;
    double s = 0;
    for (int64_t j = 0; j <= i; ++j) s += row[j] * z[j];  // L is lower triangular
    out[i] += s;
  }
}

}  // namespace xdnn::explain
