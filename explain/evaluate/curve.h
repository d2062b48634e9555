// Perturbation curves shared by the deletion / insertion metrics (Petsiuk et al. 2018, RISE) and the
// MoRF / LeRF input-reduction curves (Samek et al. 2017), exactly as the golden README's §`xdnn evaluate`
// specifies them:
// - Features of sample n: the elements of A[n] in row-major order, D of them. A per-pixel attribution
//   (N, 1, H, W) of an (N, C, H, W) input has D = H·W features, each standing for all C channels of its pixel.
// - Order: by attribution value, largest first; equal values (−0.0 == +0.0) keep their flat index order
//   (a stable sort on −A).
// - Points: for i = 0..n, k_i = ⌈i·D/n⌉ = (i·D + n − 1) div n; T_i = the first k_i features of the order.
//   deletion:  x^(i) = x_n with the features of T_i set to the baseline b;
//   insertion: x^(i) = the all-b input with the features of T_i restored to their values in x_n.
//   C[n, i] = s(x^(i)), s the target score (explain/evaluate/score.h).
// The perturbed inputs go through the model in chunks of about 32 rows, so memory stays bounded for any
// number of samples and steps.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/tensor.h"
#include "explain/evaluate/metric.h"
#include "explain/evaluate/score.h"
#include "models/model.h"

namespace xdnn::explain {

// How the features of an attribution map onto the input's elements.
struct FeatureLayout {
  int64_t samples = 0;   // N
  int64_t features = 0;  // D per sample
  int64_t elements = 0;  // input elements per sample
  int64_t channels = 1;  // input elements one feature covers: C for a per-pixel map, else 1
  // Input element of feature p in channel c: c·features + p (per pixel; channel stride H·W = D), or p.
};

// Checks that `attribution` fits `input` (the input's shape, or (N, 1, H, W) for (N, C, H, W)) and that
// every value is finite; throws a one-line error naming the attribution and the expected shapes.
FeatureLayout feature_layout(const Tensor& input, const Tensor& attribution);

// Input element of feature f in channel c (see FeatureLayout).
inline int64_t feature_element(const FeatureLayout& L, int64_t f, int64_t c) { return c * L.features + f; }

// Feature indices of one sample's attribution a[0..D) sorted by value, largest first, ties by index.
std::vector<int64_t> order_largest_first(const double* a, int64_t D);

enum class CurveKind { Deletion, Insertion };

struct CurveSettings {
  CurveKind kind = CurveKind::Deletion;
  int64_t steps = 0;      // n ≥ 1
  double baseline = 0.0;  // b
  ScoreKind score = ScoreKind::Logit;
  bool least_first = false;  // LeRF: smallest value first, ties by index (a stable sort on +A)
};

// The common options every curve metric reads (score, steps, baseline), validated with one-line errors.
CurveSettings curve_settings(const Options& options, CurveKind kind);

// C (N, steps + 1) float64.
Tensor perturbation_curves(const Model& model, const Tensor& input, const Tensor& attribution,
                           const std::vector<int64_t>& targets, const CurveSettings& settings);

// The perturbed rows [r0, r0 + R) of a metric as one tensor (R, ...) on the model's device, made with ops::
// from tensors already there (so that no row is written through host memory).
using RowMaker = std::function<Tensor(int64_t r0, int64_t R)>;

// Scores of `rows` perturbed inputs without holding them all: rows go through the model in chunks of 32
// (make_rows(r0, R), converted to the model's dtype), and s(row r) is scored for class target_of(r).
// Returns the scores in row order.
std::vector<double> score_rows(const Model& model, int64_t rows, ScoreKind score, const RowMaker& make_rows,
                               const std::function<int64_t(int64_t r)>& target_of);

// x (N, ...) on its device -> (ids.size(), E) with row r = sample ids[r] of x flattened (E elements): the
// unperturbed rows a chunk starts from, gathered where x lives (ops::gather_rows).
Tensor gather_samples(const Tensor& x, const std::vector<int64_t>& ids);

// A (R, E) host matrix (mask or noise, float64) copied to `device` in dtype F64: the per-row values a metric
// draws on the host with its seeded Rng, applied to the rows by ops on the device.
Tensor host_rows(const std::vector<double>& values, int64_t R, int64_t E, Device device);

// Trapezoid area under one curve over [0, 1]: (1/n) Σ_{i=1..n} (c[i−1] + c[i]) / 2.
double curve_auc(const double* c, int64_t steps);

// Max-sensitivity's draw j: E values uniform in [−radius, radius] from Rng(seed, j) (max_sensitivity.cpp).
// And the Euclidean distance of each of the N rows of p and q (flat, the same size). One compiled place for
// each: GCC contracts a·b + c into one FMA (-ffp-contract=fast, its C++ default; -march=x86-64-v3 has FMA)
// differently where such code is inlined, so a copy of these loops elsewhere may differ in the last bit.
std::vector<double> max_sensitivity_noise(uint64_t seed, int64_t j, double radius, int64_t E);
std::vector<double> row_distances(const std::vector<double>& p, const std::vector<double>& q, int64_t N);

// The option specs the curve metrics share.
std::vector<OptionSpec> curve_option_specs();

// The deletion or insertion metric: the curves of `perturbation_curves` for the request's options, one
// AUC per sample as the summary.
MetricResult curve_metric(const MetricRequest& req, CurveKind kind);

}  // namespace xdnn::explain
