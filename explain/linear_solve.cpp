// See linear_solve.h.
//
// GCC 12 reports a false -Wmaybe-uninitialized inside Eigen 3.4's triangular matrix-vector product
// (TriangularMatrixVector.h, instantiated by the decomposition) and an unused variable in its AVX
// packet code; neither is in our code, so this one file switches those warnings off (a push/pop around
// the include does not help: the first fires at instantiation).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma GCC diagnostic ignored "-Wunused-variable"
#include "explain/linear_solve.h"

#include <Eigen/Dense>

namespace xdnn::explain {

std::vector<double> least_squares_min_norm(const std::vector<double>& A, int64_t m, int64_t n,
                                           const std::vector<double>& B, int64_t k, int64_t* rank) {
  using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Map<const RowMatrix> a(A.data(), m, n);
  const Eigen::Map<const RowMatrix> b(B.data(), m, k);
  Eigen::CompleteOrthogonalDecomposition<Eigen::MatrixXd> cod(a);
  // One right-hand side at a time: Eigen's blocked multi-column solve rounds a column differently with the
  // number of columns, and a sample's attribution must not depend on which other samples share its batch
  // (explain/registry.h run_in_chunks promises the same bits chunked or not).
  RowMatrix x(n, k);
  for (int64_t j = 0; j < k; ++j) {
    const Eigen::VectorXd column = b.col(j);
    x.col(j) = cod.solve(column);
  }
  if (rank) *rank = cod.rank();
  return std::vector<double>(x.data(), x.data() + n * k);
}

}  // namespace xdnn::explain
