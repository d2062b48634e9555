// Spectral learning of a weighted automaton from the Hankel matrix: see spectral_wfa.h.
#include "explain/global/spectral_wfa.h"

// Eigen 3.4's AVX bf16 path trips -Wunused-variable; the header is not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#include <Eigen/Dense>
#pragma GCC diagnostic pop
#include <cmath>
#include <string>

#include "engine/error.h"

namespace xdnn::explain {

namespace {
using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Word concat(const Word& a, const Word& b, const Word& c = {}) {
  Word w(a);
  w.insert(w.end(), b.begin(), b.end());
  w.insert(w.end(), c.begin(), c.end());
  return w;
}
}  // namespace

std::vector<Word> all_words(int64_t symbols, int64_t max_length) {
  std::vector<Word> out = {{}};
  size_t begin = 0;
  for (int64_t len = 1; len <= max_length; ++len) {
    const size_t end = out.size();
    for (size_t i = begin; i < end; ++i)
      for (int64_t s = 0; s < symbols; ++s) out.push_back(concat(out[i], {s}));
    begin = end;
  }
  return out;
}

double Wfa::value(const Word& w) const {
  std::vector<double> v = alpha0, next(static_cast<size_t>(states));
  for (int64_t s : w) {
    if (s < 0 || s >= symbols)
      throw Error("wfa: symbol " + std::to_string(s) + " out of range 0.." + std::to_string(symbols - 1));
    const double* A = transitions.data() + s * states * states;
    for (int64_t j = 0; j < states; ++j) {
      double acc = 0.0;
      for (int64_t i = 0; i < states; ++i) acc += v[i] * A[i * states + j];
      next[j] = acc;
    }
    v.swap(next);
  }
  double out = 0.0;
  for (int64_t i = 0; i < states; ++i) out += v[i] * alpha_inf[i];
  return out;
}

Wfa spectral_wfa(const WordFunction& f, int64_t symbols, int64_t basis_length, int64_t rank) {
  if (symbols < 1 || symbols > 64) throw Error("wfa: symbols " + std::to_string(symbols) + ": expected 1..64");
  if (basis_length < 1) throw Error("wfa: basis length " + std::to_string(basis_length) + ": expected ≥ 1");
  const std::vector<Word> basis = all_words(symbols, basis_length);
  const int64_t B = static_cast<int64_t>(basis.size());
  if (B * B * (symbols + 1) > 4'000'000)
    throw Error("wfa: the Hankel blocks need " + std::to_string(B * B * (symbols + 1)) + " values of f",
                "use fewer symbols or a shorter basis");
  // Every word the blocks need, in one batch: H first, then H_σ for σ = 0..S−1.
  std::vector<Word> words;
  for (int64_t sigma = -1; sigma < symbols; ++sigma)
    for (const Word& p : basis)
      for (const Word& s : basis) words.push_back(sigma < 0 ? concat(p, s) : concat(p, {sigma}, s));
  const std::vector<double> values = f(words);
  if (values.size() != words.size())
    throw Error("wfa: the function answered " + std::to_string(values.size()) + " words of " +
                std::to_string(words.size()));
  for (double v : values)
    if (!std::isfinite(v)) throw Error("wfa: the function gave a non-finite value");
  const Matrix H = Eigen::Map<const Matrix>(values.data(), B, B);
  Eigen::JacobiSVD<Matrix> svd(H, Eigen::ComputeThinU | Eigen::ComputeThinV);
  const Eigen::VectorXd& sv = svd.singularValues();
  Wfa w;
  w.singular_values.assign(sv.data(), sv.data() + sv.size());
  int64_t n = rank;
  if (n <= 0) {
    n = 0;
    while (n < sv.size() && sv[n] > 1e-6 * sv[0]) ++n;
  }
  if (n < 1 || n > sv.size() || !(sv[n - 1] > 0.0))
    throw Error("wfa: rank " + std::to_string(n) + " but the Hankel matrix has " + std::to_string(sv.size()) +
                    " rows and numerical rank below it",
                "use a smaller rank or a longer basis");
  const Matrix U = svd.matrixU().leftCols(n), V = svd.matrixV().leftCols(n);
  const Eigen::VectorXd dinv = sv.head(n).cwiseInverse();
  w.states = n;
  w.symbols = symbols;
  // Row and column ε: basis[0] is the empty word.
  const Eigen::RowVectorXd a0 = H.row(0) * V;
  const Eigen::VectorXd ainf = dinv.asDiagonal() * (U.transpose() * H.col(0));
  w.alpha0.assign(a0.data(), a0.data() + n);
  w.alpha_inf.assign(ainf.data(), ainf.data() + n);
  for (int64_t sigma = 0; sigma < symbols; ++sigma) {
    const Matrix Hs = Eigen::Map<const Matrix>(values.data() + (sigma + 1) * B * B, B, B);
    const Matrix A = dinv.asDiagonal() * (U.transpose() * Hs * V);
    w.transitions.insert(w.transitions.end(), A.data(), A.data() + n * n);  // row-major (n, n)
  }
  return w;
}

}  // namespace xdnn::explain
