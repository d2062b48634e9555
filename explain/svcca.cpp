// SVCCA (Raghu et al. 2017): see svcca.h.
#include "explain/svcca.h"

// Eigen 3.4's AVX bf16 path trips -Wunused-variable; the header is not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#include <Eigen/Dense>
#pragma GCC diagnostic pop
#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/error.h"

namespace xdnn::explain {

namespace {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The README's step 2: rows = data points, columns = neurons.
Matrix neuron_matrix(const Tensor& t, const std::string& name) {
  if (!t.defined() || !t.is_float() || (t.ndim() != 2 && t.ndim() != 4))
    throw Error("svcca: " + name + ": expected float activations (N, F) or (N, C, h, w), got " +
                (t.defined() ? t.describe() : std::string("nothing")));
  const Tensor v = t.to(DType::F64);
  const double* p = v.data<double>();
  if (v.ndim() == 2) return Eigen::Map<const Matrix>(p, v.dim(0), v.dim(1));
  const int64_t N = v.dim(0), C = v.dim(1), hw = v.dim(2) * v.dim(3);
  Matrix L(N * hw, C);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t q = 0; q < hw; ++q) L(n * hw + q, c) = p[(n * C + c) * hw + q];
  return L;
}

// Steps 3-4 for one layer: centre, SVD, and the orthonormal basis U_k of the kept directions. U_k is the
// Q factor of R = U_k diag(σ_1..σ_k) up to column signs, which leave the singular values of Q_Aᵀ Q_B
// unchanged, so no separate QR is needed.
Matrix reduced_basis(Matrix L, double keep, const std::string& name) {
  L.rowwise() -= L.colwise().mean();
  Eigen::JacobiSVD<Matrix> svd(L, Eigen::ComputeThinU);
  const Eigen::VectorXd& s = svd.singularValues();  // descending
  double total = 0.0;
  for (Eigen::Index i = 0; i < s.size(); ++i) total += s[i] * s[i];
  if (!(total > 0.0))
    throw Error("svcca: " + name + " has no variance over the inputs (every neuron is constant)",
                "choose another layer or more varied inputs");
  int64_t k = 0;
  double cum = 0.0;
  while (k < s.size()) {
    cum += s[k] * s[k];
    ++k;
    if (cum >= keep * total) break;
  }
  // Directions with a numerically zero singular value are noise, not data (possible only with κ ≈ 1 on
  // rank-deficient activations): never keep them.
  const double tiny = s[0] * static_cast<double>(std::max(L.rows(), L.cols())) * std::numeric_limits<double>::epsilon();
  while (k > 1 && s[k - 1] <= tiny) --k;
  return svd.matrixU().leftCols(k);
}

}  // namespace

SvccaResult svcca(const Tensor& activations_a, const Tensor& activations_b, double keep, const std::string& name_a,
                  const std::string& name_b) {
  if (!(keep > 0.0 && keep <= 1.0))
    throw Error("--keep " + std::to_string(keep) + ": expected a fraction of the variance in (0, 1]");
  const Matrix A = neuron_matrix(activations_a, name_a);
  const Matrix B = neuron_matrix(activations_b, name_b);
  if (A.rows() != B.rows())
    throw Error("svcca: " + name_a + " gives " + std::to_string(A.rows()) + " data points and " + name_b + " gives " +
                    std::to_string(B.rows()) + "; they must be equal",
                "compare tensors with the same spatial size (rows = samples × positions)");
  if (A.rows() < 2) throw Error("svcca: need at least 2 data points, got " + std::to_string(A.rows()));
  const Matrix Ua = reduced_basis(A, keep, name_a);
  const Matrix Ub = reduced_basis(B, keep, name_b);
  const Matrix M = Ua.transpose() * Ub;  // (k_a, k_b)
  Eigen::JacobiSVD<Matrix> svd(M);
  SvccaResult r;
  r.rows = A.rows();
  r.kept_a = Ua.cols();
  r.kept_b = Ub.cols();
  const Eigen::VectorXd& rho = svd.singularValues();  // min(k_a, k_b) values, descending
  r.correlations.assign(rho.data(), rho.data() + rho.size());
  std::sort(r.correlations.begin(), r.correlations.end(), std::greater<double>());
  return r;
}

Tensor layer_activation(const Model& model, const Tensor& input, const std::string& name) {
  const int id = model.value_id(name);  // throws naming the value and a few that exist
  // A graph exported for a fixed batch size (Model::exported_batch) runs its own batch size per call; the
  // chunks' activations are stacked along the batch axis (rows stay in input order).
  const int64_t N = input.dim(0), per_call = model.exported_batch > 0 ? model.exported_batch : N;
  Tensor out;
  for (int64_t b = 0; b < N; b += per_call) {
    const int64_t e = std::min(N, b + per_call);
    const Tape tape = model.forward({per_call == N ? input : input.slice_batch(b, e)});
    const Tensor& v = tape.values.at(id);
    if (!v.defined()) throw Error("svcca: the model computes no value for tensor '" + name + "' on this input");
    if (per_call == N) return v;
    if (v.ndim() < 1 || v.dim(0) != e - b)
      throw Error("svcca: tensor '" + name + "' is " + v.describe() + ", expected " + std::to_string(e - b) +
                  " rows (one per input)");
    if (!out.defined()) {
      Shape s = v.shape();
      s[0] = N;
      out = Tensor(s, v.dtype());
    }
    out.slice_batch(b, e).copy_from(v);
  }
  return out;
}

}  // namespace xdnn::explain
