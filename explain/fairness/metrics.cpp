// Group fairness metrics and mitigations. Definitions and papers: metrics.h.
#include "explain/fairness/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/check.h"

namespace xdnn::fairness {

namespace {

double ratio(int64_t num, int64_t den) {
  return den > 0 ? static_cast<double>(num) / static_cast<double>(den) : 0.0;  // zero_division = 0
}

void check_binary(const std::vector<int64_t>& v, const char* what) {
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] != 0 && v[i] != 1)
      throw Error(std::string(what) + "[" + std::to_string(i) + "] is " + std::to_string(v[i]) + ", expected 0 or 1");
}

void check_groups(const std::vector<int64_t>& group, int64_t groups, size_t n) {
  check(group.size() == n, "group: " + std::to_string(group.size()) + " entries, expected " + std::to_string(n));
  check(groups >= 1, "fairness: at least one group is needed");
  for (size_t i = 0; i < group.size(); ++i)
    if (group[i] < 0 || group[i] >= groups)
      throw Error("group[" + std::to_string(i) + "] is " + std::to_string(group[i]) + ", expected 0.." +
                  std::to_string(groups - 1));
}

// max − min and min / max over the groups of one rate.
double spread(const std::vector<GroupRates>& g, double GroupRates::*rate) {
  if (g.empty()) return 0;
  double lo = g[0].*rate, hi = lo;
  for (const GroupRates& r : g) lo = std::min(lo, r.*rate), hi = std::max(hi, r.*rate);
  return hi - lo;
}

}  // namespace

GroupRates rates(const std::vector<int64_t>& y_true, const std::vector<int64_t>& y_pred) {
  check(y_true.size() == y_pred.size(),
        "fairness: " + std::to_string(y_pred.size()) + " predictions for " + std::to_string(y_true.size()) + " labels");
  check_binary(y_true, "y_true");
  check_binary(y_pred, "y_pred");
  GroupRates r;
  int64_t tp = 0, fp = 0, correct = 0;
  for (size_t i = 0; i < y_true.size(); ++i) {
    r.count++;
    r.positives += y_true[i];
    r.predicted_positive += y_pred[i];
    tp += y_true[i] & y_pred[i];
    fp += (1 - y_true[i]) & y_pred[i];
    correct += y_true[i] == y_pred[i];
  }
  r.base_rate = ratio(r.positives, r.count);
  r.selection_rate = ratio(r.predicted_positive, r.count);
  r.tpr = ratio(tp, r.positives);
  r.fnr = ratio(r.positives - tp, r.positives);
  r.fpr = ratio(fp, r.count - r.positives);
  r.accuracy = ratio(correct, r.count);
  return r;
}

FairnessReport fairness_report(const std::vector<int64_t>& y_true, const std::vector<int64_t>& y_pred,
                               const std::vector<int64_t>& group, const std::vector<std::string>& group_names) {
  FairnessReport rep;
  rep.overall = rates(y_true, y_pred);
  rep.overall.group = "all";
  const int64_t groups = static_cast<int64_t>(group_names.size());
  check_groups(group, groups, y_true.size());
  for (int64_t g = 0; g < groups; ++g) {
    std::vector<int64_t> yt, yp;
    for (size_t i = 0; i < group.size(); ++i)
      if (group[i] == g) yt.push_back(y_true[i]), yp.push_back(y_pred[i]);
    if (yt.empty()) continue;
    GroupRates r = rates(yt, yp);
    r.group = group_names[static_cast<size_t>(g)];
    rep.groups.push_back(r);
  }
  rep.demographic_parity_difference = spread(rep.groups, &GroupRates::selection_rate);
  double lo = 0, hi = 0;
  for (size_t i = 0; i < rep.groups.size(); ++i) {
    const double s = rep.groups[i].selection_rate;
    lo = i == 0 ? s : std::min(lo, s);
    hi = i == 0 ? s : std::max(hi, s);
  }
  rep.demographic_parity_ratio = hi > 0 ? lo / hi : 0.0;  // fairlearn: 0 when no group is selected
  rep.equal_opportunity_difference = spread(rep.groups, &GroupRates::tpr);
  rep.fpr_difference = spread(rep.groups, &GroupRates::fpr);
  rep.fnr_difference = spread(rep.groups, &GroupRates::fnr);
  rep.equalised_odds_difference = std::max(rep.equal_opportunity_difference, rep.fpr_difference);
  return rep;
}

std::vector<double> reweighing_weights(const std::vector<int64_t>& y, const std::vector<int64_t>& group,
                                       int64_t groups) {
  check_binary(y, "y");
  check_groups(group, groups, y.size());
  check(!y.empty(), "reweighing: no samples");
  const double n = static_cast<double>(y.size());
  std::vector<double> count_g(static_cast<size_t>(groups), 0), count_gy(static_cast<size_t>(groups) * 2, 0);
  double count_y[2] = {0, 0};
  for (size_t i = 0; i < y.size(); ++i) {
    count_g[static_cast<size_t>(group[i])] += 1;
    count_gy[static_cast<size_t>(group[i] * 2 + y[i])] += 1;
    count_y[y[i]] += 1;
  }
  std::vector<double> w(y.size());
  for (size_t i = 0; i < y.size(); ++i) {
    // w = P(g) P(y) / P(g, y) = (n_g / n)(n_y / n) / (n_gy / n) = n_g n_y / (n n_gy); n_gy >= 1 here.
    w[i] = count_g[static_cast<size_t>(group[i])] * count_y[y[i]] /
           (n * count_gy[static_cast<size_t>(group[i] * 2 + y[i])]);
  }
  return w;
}

explain::ChoiceRegistry<ThresholdCriterion>& threshold_criteria() {
  static explain::ChoiceRegistry<ThresholdCriterion> registry(
      "threshold criterion",
      {
          {"tpr", "equal true-positive rates across groups (equal opportunity, Hardt et al. 2016)", true},
          {"selection-rate", "equal selection rates across groups (demographic parity)", false},
      });
  return registry;
}

GroupThresholds choose_group_thresholds(const std::vector<double>& scores, const std::vector<int64_t>& y,
                                        const std::vector<int64_t>& group, int64_t groups,
                                        const ThresholdCriterion& criterion, int64_t rate_steps) {
  check(scores.size() == y.size(),
        "group thresholds: " + std::to_string(scores.size()) + " scores for " + std::to_string(y.size()) + " labels");
  check_binary(y, "y");
  check_groups(group, groups, y.size());
  check(rate_steps >= 1, "group thresholds: rate_steps must be >= 1");
  for (size_t i = 0; i < scores.size(); ++i)
    if (!std::isfinite(scores[i])) throw Error("group thresholds: score[" + std::to_string(i) + "] is not finite");
  // Each group's counted scores, highest first.
  std::vector<std::vector<double>> counted(static_cast<size_t>(groups));
  for (size_t i = 0; i < scores.size(); ++i)
    if (!criterion.positives_only || y[i] == 1) counted[static_cast<size_t>(group[i])].push_back(scores[i]);
  for (int64_t g = 0; g < groups; ++g) {
    auto& c = counted[static_cast<size_t>(g)];
    std::sort(c.begin(), c.end(), std::greater<double>());
    bool present = false;
    for (int64_t gi : group) present = present || gi == g;
    if (present && c.empty())
      throw Error("group thresholds (" + criterion.name + "): group " + std::to_string(g) +
                  " has no positive sample in the data the thresholds are chosen on");
  }
  const double inf = std::numeric_limits<double>::infinity();
  GroupThresholds best;
  best.accuracy = -1;
  for (int64_t k = 0; k <= rate_steps; ++k) {
    const double r = static_cast<double>(k) / static_cast<double>(rate_steps);
    std::vector<double> t(static_cast<size_t>(groups), inf);
    for (size_t g = 0; g < counted.size(); ++g) {
      const auto m = static_cast<size_t>(std::llround(r * static_cast<double>(counted[g].size())));
      if (m > 0) t[g] = counted[g][m - 1];  // the m-th highest score: select it and everything above
    }
    const std::vector<int64_t> pred = apply_group_thresholds(scores, group, t);
    int64_t correct = 0;
    for (size_t i = 0; i < y.size(); ++i) correct += pred[i] == y[i];
    const double acc = static_cast<double>(correct) / static_cast<double>(std::max<size_t>(y.size(), 1));
    if (acc > best.accuracy) best = {t, r, acc};
  }
  return best;
}

std::vector<int64_t> apply_group_thresholds(const std::vector<double>& scores, const std::vector<int64_t>& group,
                                            const std::vector<double>& thresholds) {
  check_groups(group, static_cast<int64_t>(thresholds.size()), scores.size());
  std::vector<int64_t> pred(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) pred[i] = scores[i] >= thresholds[static_cast<size_t>(group[i])];
  return pred;
}

}  // namespace xdnn::fairness
