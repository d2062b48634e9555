// A multivariate Gaussian fitted to data, and its conditional distribution given some of its coordinates:
// the conditional sampling of prediction difference analysis (Zintgraf, Cohen, Adel & Welling, ICLR 2017,
// §3.2), where a patch's values are drawn given the frame of pixels around it.
//
// For x ~ N(μ, Σ) split into a free part a and a given part b,
//   x_a | x_b ~ N(μ_a + Σ_ab Σ_bb⁻¹ (x_b − μ_b),  Σ_aa − Σ_ab Σ_bb⁻¹ Σ_ba)
// (the Schur complement; e.g. Bishop, PRML, eqs. 2.81–2.82). Everything is float64; the linear algebra is
// Eigen's (Cholesky factorisations), hidden behind std::vector so that callers do not include Eigen.
#pragma once
#include <cstdint>
#include <vector>

namespace xdnn {
class Rng;
}

namespace xdnn::explain {

struct Gaussian {
  int64_t dim = 0;
  std::vector<double> mean;  // (dim)
  std::vector<double> cov;   // (dim, dim) row-major, symmetric positive definite
};

// Maximum-likelihood mean and covariance of samples given in blocks (memory does not grow with their
// number), with ridge · (trace(Σ)/dim) + 1e-12 added to the diagonal: image patches with constant regions
// (the black border of a Fashion-MNIST image) have a singular covariance, and the conditional needs Σ_bb⁻¹.
// The sums are taken about the first sample (a shift), which keeps Σ y yᵀ/M − ȳ ȳᵀ from cancelling.
class GaussianFit {
 public:
  explicit GaussianFit(int64_t dim);
  void add(const double* rows, int64_t count);  // rows: (count, dim) row-major
  // The same from sums made elsewhere (a device's reduction and matrix product) over `count` rows x:
  // column_sums = Σ (x − shift) (dim) and outer = Σ (x − shift)(x − shift)ᵀ (dim, dim, row-major), about
  // shift = the first row the fit sees (the first call's `first_row`, its only use).
  void add_sums(int64_t count, const std::vector<double>& first_row, const std::vector<double>& column_sums,
                const std::vector<double>& outer);
  int64_t count() const { return count_; }
  Gaussian finish(double ridge) const;

 private:
  int64_t dim_, count_ = 0;
  std::vector<double> shift_, sum_, outer_;  // (dim), (dim), (dim, dim)
};

// All `count` rows (count, dim) at once.
Gaussian fit_gaussian(const std::vector<double>& rows, int64_t count, int64_t dim, double ridge);

// x_a | x_b for the coordinates `free` (a) given `given` (b), both index lists into the Gaussian.
struct ConditionalGaussian {
  std::vector<int64_t> free, given;
  std::vector<double> mean_free, mean_given;  // μ_a (d_a), μ_b (d_b)
  std::vector<double> gain;                   // Σ_ab Σ_bb⁻¹ (d_a, d_b) row-major
  std::vector<double> cov;                    // Σ_aa − Σ_ab Σ_bb⁻¹ Σ_ba (d_a, d_a) row-major
  std::vector<double> chol;                   // its lower Cholesky factor L (d_a, d_a), L Lᵀ = cov

  // E[x_a | x_b]: x_b (d_b) → out (d_a).
  void mean(const double* x_given, double* out) const;
  // One draw of x_a | x_b: mean + L z with z ~ N(0, I) from `rng` (d_a normals, in order).
  void sample(const double* x_given, Rng& rng, double* out) const;
};

ConditionalGaussian condition(const Gaussian& g, const std::vector<int64_t>& free, const std::vector<int64_t>& given);

}  // namespace xdnn::explain
