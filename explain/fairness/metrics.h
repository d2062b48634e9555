// Group fairness of a binary classifier, one pre-processing and one post-processing mitigation.
//
// Labels and predictions are 0/1 with 1 the favourable outcome (a loan granted, a release); `group` is the
// protected attribute's level index per sample. Per group g:
//   selection rate  P(ŷ=1 | g),  TPR P(ŷ=1 | y=1, g),  FPR P(ŷ=1 | y=0, g),  FNR = 1 − TPR,
// and a rate whose conditioning set is empty is 0 (scikit-learn's zero_division=0, as fairlearn reports it).
// Between groups ("difference" = max − min over groups, "ratio" = min / max, fairlearn's between_groups):
//   demographic parity difference / ratio   of the selection rates (Calders & Verwer 2010; Feldman et al. 2015)
//   equal opportunity difference            of the TPRs (Hardt et al. 2016, Def. 2)
//   equalised odds difference               max(TPR difference, FPR difference) (Hardt et al. 2016, Def. 1;
//                                           fairlearn's equalized_odds_difference, agg "worst_case")
//   disparate mistreatment                  FPR difference and FNR difference (Zafar et al. 2017, §2.2)
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "explain/choices.h"

namespace xdnn::fairness {

struct GroupRates {
  std::string group;
  int64_t count = 0, positives = 0, predicted_positive = 0;
  double base_rate = 0, selection_rate = 0, tpr = 0, fpr = 0, fnr = 0, accuracy = 0;
};

struct FairnessReport {
  std::vector<GroupRates> groups;  // in level order; groups with no sample are left out
  GroupRates overall;
  double demographic_parity_difference = 0, demographic_parity_ratio = 0;
  double equal_opportunity_difference = 0, equalised_odds_difference = 0;
  double fpr_difference = 0, fnr_difference = 0;
};

// y_true, y_pred: (N) in {0, 1}; group: (N) in [0, group_names.size()). Throws on lengths or values
// outside those sets, naming the argument.
GroupRates rates(const std::vector<int64_t>& y_true, const std::vector<int64_t>& y_pred);
FairnessReport fairness_report(const std::vector<int64_t>& y_true, const std::vector<int64_t>& y_pred,
                               const std::vector<int64_t>& group, const std::vector<std::string>& group_names);

// Reweighing (Kamiran & Calders 2012, §3.3 / Alg. 3): sample weight w(g, y) = P(g)·P(y) / P(g, y), estimated
// on the given (training) labels, so that in the weighted data the label is independent of the group.
// Returns one weight per sample; every (g, y) cell that holds a sample gets a finite positive weight.
std::vector<double> reweighing_weights(const std::vector<int64_t>& y, const std::vector<int64_t>& group,
                                       int64_t groups);

// Post-processing with group-specific thresholds, in the spirit of Hardt et al. 2016 (§4): sample i is
// predicted 1 iff score_i >= threshold[group_i]. A criterion names the rate to equalise across groups.
struct ThresholdCriterion {
  std::string name;         // "tpr", "selection-rate"
  std::string description;  // one line
  bool positives_only;      // the rate counts among y = 1 only (TPR) or among all samples (selection rate)
};
explain::ChoiceRegistry<ThresholdCriterion>& threshold_criteria();

struct GroupThresholds {
  std::vector<double> thresholds;  // one per group (+inf: nobody in the group is selected)
  double target_rate = 0;          // the common rate the thresholds were set for
  double accuracy = 0;             // on the data they were chosen on
};

// Chooses, on validation scores (N) with labels and groups, one threshold per group: for each common
// target rate r = k / rate_steps (k = 0..rate_steps), group g's threshold selects the round(r·n_g) samples
// of highest score among its n_g counted samples (ties included), and the r with the best accuracy wins
// (the smallest r on ties). Unlike Hardt et al. we do not randomise between two thresholds, so rates are
// equal up to one sample per group on the validation data and approximately so on new data.
GroupThresholds choose_group_thresholds(const std::vector<double>& scores, const std::vector<int64_t>& y,
                                        const std::vector<int64_t>& group, int64_t groups,
                                        const ThresholdCriterion& criterion, int64_t rate_steps = 200);

// ŷ_i = score_i >= thresholds[group_i].
std::vector<int64_t> apply_group_thresholds(const std::vector<double>& scores, const std::vector<int64_t>& group,
                                            const std::vector<double>& thresholds);

}  // namespace xdnn::fairness
