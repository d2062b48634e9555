// PCA by the eigen-decomposition of the covariance (or Gram) matrix; see pca.h.
#include "explain/global/pca.h"

// Eigen 3.4's AVX bfloat16 conversion has an unused variable under -Werror (as in conditional_gaussian.cpp).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#include <Eigen/Dense>
#pragma GCC diagnostic pop
#include <cmath>

#include "engine/check.h"

namespace xdnn::explain {

namespace {
using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
}

PcaResult pca(const Tensor& x, int64_t components, const std::string& what) {
  check(x.ndim() >= 2 && x.is_float(), "pca: " + what + ": expected float (N, ...) data, got " + x.describe());
  const int64_t n = x.dim(0), f = x.numel() / std::max<int64_t>(1, x.dim(0));
  check(n >= 2, "pca: " + what + ": needs at least 2 data points, got " + std::to_string(n));
  check(components >= 1 && components <= std::min(n, f),
        "pca: " + what + ": components must be from 1 to min(N, F) = " + std::to_string(std::min(n, f)) + ", got " +
            std::to_string(components));
  const Tensor x64 = x.to(DType::F64);
  Matrix X = Eigen::Map<const Matrix>(x64.data<double>(), n, f);
  const Eigen::RowVectorXd mean = X.colwise().mean();
  X.rowwise() -= mean;
  const double scale = 1.0 / static_cast<double>(n - 1);
  Eigen::VectorXd eigenvalues;  // ascending
  Matrix V;                     // (F, m): eigenvectors of C as columns, matching `eigenvalues`
  if (f <= n) {
    const Matrix C = (X.transpose() * X) * scale;
    Eigen::SelfAdjointEigenSolver<Matrix> es(C);
    check(es.info() == Eigen::Success, "pca: " + what + ": the eigensolver did not converge");
    eigenvalues = es.eigenvalues();
    V = es.eigenvectors();
  } else {
    const Matrix G = (X * X.transpose()) * scale;
    Eigen::SelfAdjointEigenSolver<Matrix> es(G);
    check(es.info() == Eigen::Success, "pca: " + what + ": the eigensolver did not converge");
    eigenvalues = es.eigenvalues();
    V = X.transpose() * es.eigenvectors();  // Xᵀu is an eigenvector of C with the same eigenvalue
    for (Eigen::Index c = 0; c < V.cols(); ++c) {
      const double norm = V.col(c).norm();
      if (norm > 0) V.col(c) /= norm;
    }
  }
  double total = 0.0;
  for (Eigen::Index i = 0; i < eigenvalues.size(); ++i) total += std::max(0.0, eigenvalues[i]);
  PcaResult r;
  r.components = Tensor::zeros({components, f}, DType::F64);
  double* comp = r.components.data<double>();
  const Eigen::Index m = eigenvalues.size();
  for (int64_t c = 0; c < components; ++c) {
    const Eigen::Index col = m - 1 - c;  // largest first
    Eigen::VectorXd v = V.col(col);
    Eigen::Index arg = 0;
    for (Eigen::Index i = 1; i < v.size(); ++i)
      if (std::abs(v[i]) > std::abs(v[arg])) arg = i;
    if (v[arg] < 0) v = -v;
    for (int64_t i = 0; i < f; ++i) comp[c * f + i] = v[i];
    const double var = std::max(0.0, eigenvalues[col]);
    r.variance.push_back(var);
    r.explained.push_back(total > 0 ? var / total : 0.0);
  }
  const Eigen::Map<const Matrix> W(comp, components, f);
  const Matrix P = X * W.transpose();
  r.projection = Tensor::zeros({n, components}, DType::F64);
  Eigen::Map<Matrix>(r.projection.data<double>(), n, components) = P;
  r.mean = Tensor::zeros({f}, DType::F64);
  for (int64_t i = 0; i < f; ++i) r.mean.data<double>()[i] = mean[i];
  return r;
}

}  // namespace xdnn::explain
