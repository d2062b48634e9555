// Spectral learning of a weighted finite automaton from a Hankel matrix (Hsu, Kakade & Zhang 2012; Balle,
// Carreras, Luque & Quattoni 2014, "Spectral learning of weighted automata", §4; applied to recurrent
// networks by Ayache, Eyraud & Goudian 2018, "Explaining black boxes on sequential data using weighted
// automata"). A WFA over symbols 0..S−1 with n states computes f(x1…xt) = α0ᵀ A_{x1} ⋯ A_{xt} α∞.
// Given any function f on words (here: a network's probability of a class), with a basis B of prefixes =
// suffixes (every word of length ≤ L, ε included):
//   H(p, s) = f(p s),  H_σ(p, s) = f(p σ s)      (|B| × |B|)
//   H ≈ U_n D_n V_nᵀ (the n largest singular values)
//   A_σ = D_n⁻¹ U_nᵀ H_σ V_n,   α0ᵀ = H(ε, ·) V_n,   α∞ = D_n⁻¹ U_nᵀ H(·, ε)
// When f is computed by a WFA of rank n and B is complete (rank H = n), this recovers f exactly (up to
// a change of basis of the states).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace xdnn::explain {

using Word = std::vector<int64_t>;  // symbol indices

struct Wfa {
  int64_t states = 0, symbols = 0;
  std::vector<double> alpha0, alpha_inf;  // (n)
  std::vector<double> transitions;        // (symbols, n, n), row-major
  std::vector<double> singular_values;    // of the Hankel matrix, all of them, descending
  double value(const Word& w) const;
};

// f answers a batch of words at once (a network runs them as one batch).
using WordFunction = std::function<std::vector<double>(const std::vector<Word>& words)>;

// Every word over `symbols` symbols of length 0..max_length, shortest first, then lexicographic.
std::vector<Word> all_words(int64_t symbols, int64_t max_length);

// rank ≤ 0: the number of singular values above 1e-6 · σ_1 (the numerical rank).
Wfa spectral_wfa(const WordFunction& f, int64_t symbols, int64_t basis_length, int64_t rank);

}  // namespace xdnn::explain
