// Test oracles shared by the test files.
#pragma once
#include <functional>

#include "engine/tensor.h"

namespace xdnn::testing {

// Largest |a - b| / max(1, |b|) over elements (same shapes).
double max_rel_diff(const Tensor& a, const Tensor& b);
// ||a - b||_2 / ||b||_2 (plain ||a - b||_2 when b is all zero).
double rel_l2(const Tensor& a, const Tensor& b);

// Central finite differences of a scalar function f at x (float64), step h: df/dx, shape of x.
Tensor numeric_gradient(const std::function<double()>& f, Tensor& x, double h = 1e-6);

// First-maximum 2x2 stride-2 max-pool of x (N, C, H, W) straight from the definition: y (N, C, H/2, W/2) of
// x's dtype, arg the flat in-plane index of each winner (int64).
void naive_pool2x2(const Tensor& x, Tensor& y, Tensor& arg);

}  // namespace xdnn::testing
