// Integrated gradients (Sundararajan, Taly & Yan 2017, eq. 1 and its Riemann approximation eq. 3):
//   IG(x) = (x − x̄) ⊙ Σ_{i=1..n} w_i · ∇f_K(x̄ + α_i (x − x̄))
// with the nodes α_i and weights w_i of one of five quadrature rules on [0, 1] (golden README §IG).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "explain/choices.h"

namespace xdnn::explain {

struct Quadrature {
  std::vector<double> alphas;   // increasing
  std::vector<double> weights;  // same length
};

// The n Gauss–Legendre nodes on [−1, 1] in increasing order and their weights (which sum to 2): the
// roots of the Legendre polynomial P_n, found by Newton's method from Tricomi's initial guesses
// cos(π (i − 1/4) / (n + 1/2)), evaluated by the three-term recurrence in double; w = 2 / ((1 − t²) P_n'(t)²).
Quadrature gauss_legendre(int n);

// The rule named `name` (gauss-legendre, riemann-left, riemann-right, riemann-middle, riemann-trapezoid)
// with n nodes, mapped to [0, 1]. gauss-legendre: α = (1 + t)/2, w = v/2. Riemann rules need n ≥ 2. The
// trapezoid rule follows the reference implementation: nodes (i−1)/(n−1), weights 1/n with 1/(2n) at
// both ends, so they sum to (n−1)/n.
Quadrature integration_rule(const std::string& name, int n);

// The registry of those rules (explain/choices.h): `nodes(n)` gives the n nodes on [0, 1].
struct IntegrationRuleInfo {
  std::string name;
  std::string description;
  int min_steps = 1;
  std::function<Quadrature(int n)> nodes;
};
ChoiceRegistry<IntegrationRuleInfo>& integration_rules();

}  // namespace xdnn::explain
