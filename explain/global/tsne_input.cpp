// t-SNE's input similarities P (van der Maaten & Hinton 2008 §2–3; van der Maaten 2014 §4.1): squared
// Euclidean distances to every point or to the k nearest, a binary search on each point's precision β_i
// for the perplexity, and the symmetrisation p_ij = (p_{j|i} + p_{i|j}) / Σ. See tsne.h.
// Eigen 3.4's AVX bfloat16 conversion has an unused variable under -Werror (as in conditional_gaussian.cpp).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#include <Eigen/Dense>
#pragma GCC diagnostic pop
#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "engine/check.h"
#include "engine/parallel.h"
#include "explain/global/tsne.h"

namespace xdnn::explain {

namespace {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// p_{j|i} ∝ exp(−β d_j) over the given squared distances d (one row), with β chosen by bisection so that
// the entropy H = log Σ exp(−β d) + β Σ p d (natural log) is log(perplexity) within 1e-5, at most 100
// steps (the search of the 2008 paper's §2 and of scikit-learn). The distances are shifted by their
// minimum first, which leaves p unchanged and keeps exp from underflowing for far-away rows.
void conditional_row(const double* d, int64_t k, double perplexity, double* p) {
  const double target = std::log(perplexity);
  const double d_min = *std::min_element(d, d + k);
  double beta = 1.0, beta_lo = -std::numeric_limits<double>::infinity();
  double beta_hi = std::numeric_limits<double>::infinity();
  for (int step = 0; step < 100; ++step) {
    double sum = 0.0;
    for (int64_t j = 0; j < k; ++j) sum += (p[j] = std::exp(-beta * (d[j] - d_min)));
    double mean_d = 0.0;
    for (int64_t j = 0; j < k; ++j) mean_d += (p[j] /= sum) * (d[j] - d_min);
    const double diff = std::log(sum) + beta * mean_d - target;
    if (std::abs(diff) <= 1e-5) break;
    if (diff > 0) {  // too flat: sharpen
      beta_lo = beta;
      beta = std::isinf(beta_hi) ? beta * 2.0 : (beta + beta_hi) / 2.0;
    } else {
      beta_hi = beta;
      beta = std::isinf(beta_lo) ? beta / 2.0 : (beta + beta_lo) / 2.0;
    }
  }
}

}  // namespace

SparseP tsne_input_similarities(const Tensor& x, double perplexity, int64_t neighbours) {
  const int64_t n = x.dim(0);
  const int64_t f = x.numel() / n;
  const int64_t k = neighbours < 0 ? n - 1 : std::min(neighbours, n - 1);
  const Tensor x64 = x.to(DType::F64);
  const Eigen::Map<const Matrix> X(x64.data<double>(), n, f);
  const Eigen::VectorXd norms = X.rowwise().squaredNorm();
  // Conditional rows: the k nearest (distance, then index: ties broken the same way every time).
  std::vector<int64_t> nn(static_cast<size_t>(n * k));
  std::vector<double> cond(static_cast<size_t>(n * k));
  const int64_t block = 32;
  const int64_t blocks = (n + block - 1) / block;
  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    std::vector<std::pair<double, int64_t>> row(static_cast<size_t>(n));
    std::vector<double> d(static_cast<size_t>(k));
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = b * block, rows = std::min(block, n - r0);
      // ‖x_i − x_j‖² = ‖x_i‖² + ‖x_j‖² − 2 x_i·x_j for a block of rows at once (one GEMM).
      const Matrix dots = X.middleRows(r0, rows) * X.transpose();
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = r0 + r;
        int64_t m = 0;
        for (int64_t j = 0; j < n; ++j)
          if (j != i) row[static_cast<size_t>(m++)] = {std::max(0.0, norms[i] + norms[j] - 2.0 * dots(r, j)), j};
        auto end = row.begin() + m;
        if (k < m) std::nth_element(row.begin(), row.begin() + k, end);
        std::sort(row.begin(), row.begin() + k);
        for (int64_t j = 0; j < k; ++j) {
          d[static_cast<size_t>(j)] = row[static_cast<size_t>(j)].first;
          nn[static_cast<size_t>(i * k + j)] = row[static_cast<size_t>(j)].second;
        }
        conditional_row(d.data(), k, perplexity, &cond[static_cast<size_t>(i * k)]);
      }
    }
  });
  // P + Pᵀ as (row, column, value) triplets sorted, duplicates summed, then normalised to sum 1.
  std::vector<std::tuple<int64_t, int64_t, double>> t;
  t.reserve(static_cast<size_t>(2 * n * k));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) {
      const double v = cond[static_cast<size_t>(i * k + j)];
      const int64_t c = nn[static_cast<size_t>(i * k + j)];
      t.emplace_back(i, c, v);
      t.emplace_back(c, i, v);
    }
  std::sort(t.begin(), t.end());
  SparseP p;
  p.row_start.assign(static_cast<size_t>(n + 1), 0);
  for (size_t a = 0; a < t.size();) {
    const auto [r, c, v0] = t[a];
    double v = v0;
    size_t b = a + 1;
    for (; b < t.size() && std::get<0>(t[b]) == r && std::get<1>(t[b]) == c; ++b) v += std::get<2>(t[b]);
    p.col.push_back(c);
    p.val.push_back(v);
    p.row_start[static_cast<size_t>(r + 1)] = static_cast<int64_t>(p.col.size());
    a = b;
  }
  for (int64_t i = 0; i < n; ++i)  // rows with no entry (impossible for k ≥ 1, but keep the index valid)
    p.row_start[static_cast<size_t>(i + 1)] =
        std::max(p.row_start[static_cast<size_t>(i + 1)], p.row_start[static_cast<size_t>(i)]);
  double total = 0.0;
  for (double v : p.val) total += v;
  for (double& v : p.val) v /= total;
  return p;
}

}  // namespace xdnn::explain
