// TCAV: testing with concept activation vectors (Kim et al. 2018, "Interpretability Beyond Feature
// Attribution: Quantitative Testing with Concept Activation Vectors (TCAV)").
//
// At layer l with activations f_l(x) (flattened to F features):
// - CAV v_C (§3.2): the unit normal of a linear classifier separating f_l of concept examples (label 1) from
//   f_l of random examples (label 0), pointing towards the concept. The classifier is the probe of
//   linear_probe.h with two classes (logistic regression), trained on a seeded part of the examples; its
//   accuracy on the rest is reported (a CAV near 50 % accuracy describes nothing).
// - directional derivative (§3.3, eq. 1): S_{C,k,l}(x) = ∇h_{l,k}(f_l(x)) · v_C, with h_{l,k} the logit of
//   class k as a function of the layer's activations;
// - TCAV score (§3.4, eq. 2): the fraction of class-k inputs with S_{C,k,l}(x) > 0;
// - statistical test (§3.5): the score for `runs` CAVs, each against another random set, is compared with
//   the scores of `runs` CAVs of a random set against the same random sets (the null), by a two-sided
//   two-sample t-test (pooled variance, as scipy.stats.ttest_ind); the concept is significant at p < alpha.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "explain/global/linear_probe.h"
#include "models/model.h"

namespace xdnn::explain {

// Student's two-sample t-test, two-sided, pooled variance. With both samples constant the statistic is 0
// and p = 1 when the means are equal, ±infinity and p = 0 otherwise. Each sample needs ≥ 2 values.
struct TTest {
  double t = 0, dof = 0, p = 1;
};
TTest two_sample_t_test(const std::vector<double>& a, const std::vector<double>& b);
// The regularised incomplete beta function I_x(a, b) (continued fraction, Abramowitz & Stegun 26.5.8).
double regularized_incomplete_beta(double x, double a, double b);

// Unit CAV (F) float64 from concept activations (Nc, F) and random activations (Nr, F), on their device;
// `accuracy` receives the classifier's held-out accuracy.
Tensor concept_activation_vector(const Tensor& concept_acts, const Tensor& random_acts, const ProbeOptions& opt,
                                 double* accuracy = nullptr);

// ∂ logit_target / ∂ f_l(x) for every input row: float64 (N, F), F = the layer's size per sample.
Tensor logit_gradients_at(const Model& model, const Tensor& inputs, const std::string& layer, int64_t target);

// The fraction of rows g of `gradients` (N, F) float64 with g · cav > 0, cav (F) float64 on their device.
double tcav_score(const Tensor& gradients, const Tensor& cav);

struct TcavOptions {
  int64_t runs = 10;          // CAVs per concept (each against its own random set) and as many null CAVs
  int64_t min_examples = 10;  // fewer concept examples is an error
  double alpha = 0.05;
  uint64_t seed = 0;                                          // random sets and classifiers
  ProbeOptions classifier = {50, 0, 32, 0.05, 1e-3, 0.2, 0};  // epochs, min steps, batch, lr, L2, holdout, seed
};

struct TcavResult {
  std::string layer;
  int64_t target = 0, inputs = 0, concept_examples = 0;
  std::vector<double> concept_scores;  // one per run
  std::vector<double> random_scores;   // the null: a random set's CAV against the same random sets
  std::vector<double> cav_accuracy;    // held-out accuracy of each concept CAV's classifier
  double mean = 0, sd = 0;             // of concept_scores (sd with n − 1)
  double random_mean = 0, random_sd = 0;
  TTest test;
  bool significant = false;  // test.p < alpha
};

// class_inputs (N, ...) are inputs of class `target` (the model's inputs, as the data set); concept (Nc, ...)
// the concept's examples; random_sets[0] is the null's "concept" and random_sets[1..R] the random
// counter-examples of both sides (Kim et al.'s random500_0, random500_1, ... folders), R = runs ≥ 2; each set
// needs at least opt.min_examples rows, as the concept does. opt.runs is ignored here.
TcavResult tcav_with_sets(const Model& model, const Tensor& class_inputs, int64_t target, const std::string& layer,
                          const Tensor& concept_inputs, const std::vector<Tensor>& random_sets, const TcavOptions& opt);

// The same with opt.runs + 1 random sets of Nc examples drawn from random_pool (Np, ...), each without
// replacement and independently of the others (seeded). Np ≥ Nc is required.
TcavResult tcav(const Model& model, const Tensor& class_inputs, int64_t target, const std::string& layer,
                const Tensor& concept_inputs, const Tensor& random_pool, const TcavOptions& opt);

}  // namespace xdnn::explain
