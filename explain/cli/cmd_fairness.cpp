// `xdnn fairness`: one reproducible fairness study of an MLP on a tabular data set with a protected
// attribute (explain/fairness/). One command rather than `train` + `fairness --model`, because the
// mitigations need what a checkpoint does not carry: the encoding fitted on the training rows, the
// validation split the group thresholds are chosen on, and a second model trained with reweighing.
//
//   1. read the data set (an R data frame from a Debian package), split rows train / validation / test
//      with --split-seed, encode (one-hot factors, standardised numbers, statistics from train only);
//   2. train the MLP twice from the same initialisation: plainly ("baseline") and with Kamiran & Calders'
//      reweighing in the loss ("reweighing");
//   3. on the test rows: the baseline at threshold 0.5, reweighing at 0.5, and the baseline with group
//      thresholds chosen on the validation rows for each registered criterion ("thresholds-tpr", ...);
//   4. per group and between groups: the metrics of explain/fairness/metrics.h, and the trade-off table;
//   5. per group: the mean |attribution| of every feature (class "favourable") for both models.
// Writes DIR/fairness.json (everything printed), DIR/test_labels.npy and DIR/test_groups.npy (int64),
// DIR/predictions_<variant>.npy (int64 0/1), DIR/scores_<model>.npy (float64 P(favourable)) and
// DIR/attribution_by_group_<model>.npy ((groups, features) float64): bench/fairlearn_check.py reads them.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/file_io.h"
#include "engine/parallel.h"
#include "explain/cli/commands.h"
#include "explain/fairness/metrics.h"
#include "explain/fairness/tabular.h"
#include "models/io/npy.h"

namespace xdnn::cli {
namespace {

struct FairnessOptions {
  std::string data = "arrests", data_dir, protected_attribute, method = "integrated-gradients", out;
  bool drop_protected = false;
  double validation = 0.2, test = 0.2;
  uint64_t split_seed = 0;
  fairness::MlpConfig mlp;
  int threads = 0;
};

nlohmann::json rates_json(const fairness::GroupRates& r) {
  return {{"group", r.group},
          {"count", r.count},
          {"base_rate", r.base_rate},
          {"selection_rate", r.selection_rate},
          {"tpr", r.tpr},
          {"fpr", r.fpr},
          {"fnr", r.fnr},
          {"accuracy", r.accuracy}};
}

nlohmann::json report_json(const fairness::FairnessReport& r) {
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& g : r.groups) groups.push_back(rates_json(g));
  return {{"accuracy", r.overall.accuracy},
          {"selection_rate", r.overall.selection_rate},
          {"demographic_parity_difference", r.demographic_parity_difference},
          {"demographic_parity_ratio", r.demographic_parity_ratio},
          {"equalised_odds_difference", r.equalised_odds_difference},
          {"equal_opportunity_difference", r.equal_opportunity_difference},
          {"fpr_difference", r.fpr_difference},
          {"fnr_difference", r.fnr_difference},
          {"groups", groups}};
}

Tensor int_tensor(const std::vector<int64_t>& v) { return Tensor::from_vector({static_cast<int64_t>(v.size())}, v); }

void save(const std::string& dir, const std::string& name, const Tensor& t, const std::string& what) {
  const std::string path = (std::filesystem::path(dir) / name).string();
  save_npy(path, t);
  print_wrote(path, what + ", " + t.describe());
}

void fairness_command(const FairnessOptions& o) {
  // The folder is made only once the data set and its columns are known good (a bad --protected leaves
  // nothing behind); its parent must exist already.
  const std::filesystem::path parent = std::filesystem::path(o.out).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent))
    throw Error("--out: folder '" + parent.string() + "' does not exist");
  if (o.threads > 0) set_num_threads(o.threads);
  const fairness::TabularDataset& ds = fairness::tabular_datasets().find(o.data);
  const std::string protected_attribute =
      o.protected_attribute.empty() ? ds.protected_attribute : o.protected_attribute;
  const explain::MethodInfo& method = explain::find_method(o.method);  // before any work

  const tabular::DataFrame df = fairness::load_tabular_dataset(ds, o.data_dir);
  const fairness::RowSplit split = fairness::split_rows(df.rows, o.validation, o.test, o.split_seed);
  const fairness::TabularTask all =
      fairness::encode_task(df, ds.target, ds.positive, protected_attribute, o.drop_protected, split.train);
  const fairness::TabularTask train = fairness::take_rows(all, split.train);
  const fairness::TabularTask val = fairness::take_rows(all, split.validation);
  const fairness::TabularTask test = fairness::take_rows(all, split.test);
  const int64_t groups = static_cast<int64_t>(all.group_names.size());
  std::error_code ec;
  std::filesystem::create_directories(o.out, ec);
  if (ec || !std::filesystem::is_directory(o.out)) throw Error("--out: cannot create folder '" + o.out + "'");
  check_output_path((std::filesystem::path(o.out) / "fairness.json").string(), "--out", {});
  std::string group_list;
  for (const std::string& g : all.group_names) group_list += (group_list.empty() ? "" : ", ") + g;
  std::printf("%s: %lld rows, %lld features; protected '%s' (%s); train %zu, validation %zu, test %zu\n",
              df.source.c_str(), static_cast<long long>(df.rows), static_cast<long long>(all.x.dim(1)),
              protected_attribute.c_str(), group_list.c_str(), split.train.size(), split.validation.size(),
              split.test.size());

  Model baseline = fairness::build_tabular_mlp(train, o.mlp);
  Model reweighed = fairness::build_tabular_mlp(train, o.mlp);  // same seed: the same initial weights
  fairness::train_tabular_mlp(baseline, train, {}, o.mlp);
  fairness::train_tabular_mlp(reweighed, train, fairness::reweighing_weights(train.y, train.group, groups), o.mlp);

  const std::vector<double> base_test = fairness::positive_scores(baseline, test.x);
  const std::vector<double> rew_test = fairness::positive_scores(reweighed, test.x);
  const std::vector<double> base_val = fairness::positive_scores(baseline, val.x);
  struct Variant {
    std::string name;
    std::vector<int64_t> pred;
    nlohmann::json extra;
  };
  std::vector<Variant> variants;
  const std::vector<double> half(static_cast<size_t>(groups), 0.5);
  variants.push_back({"baseline", fairness::apply_group_thresholds(base_test, test.group, half), {}});
  variants.push_back({"reweighing", fairness::apply_group_thresholds(rew_test, test.group, half), {}});
  for (const auto& c : fairness::threshold_criteria().entries()) {
    const fairness::GroupThresholds t = fairness::choose_group_thresholds(base_val, val.y, val.group, groups, c, 200);
    variants.push_back(
        {"thresholds-" + c.name,
         fairness::apply_group_thresholds(base_test, test.group, t.thresholds),
         {{"thresholds", t.thresholds}, {"target_rate", t.target_rate}, {"validation_accuracy", t.accuracy}}});
  }

  nlohmann::json out = {{"data", df.source},          {"protected", protected_attribute},
                        {"groups", all.group_names},  {"features", all.feature_names},
                        {"split_seed", o.split_seed}, {"seed", o.mlp.seed},
                        {"epochs", o.mlp.epochs},     {"variants", nlohmann::json::object()}};
  std::printf("\n%-26s %8s %8s %8s %8s %8s %8s %8s\n", "variant (test rows)", "accuracy", "DP diff", "DP ratio",
              "EO diff", "EOpp", "FPR gap", "FNR gap");
  for (const Variant& v : variants) {
    const fairness::FairnessReport r = fairness::fairness_report(test.y, v.pred, test.group, all.group_names);
    std::printf("%-26s %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f\n", v.name.c_str(), r.overall.accuracy,
                r.demographic_parity_difference, r.demographic_parity_ratio, r.equalised_odds_difference,
                r.equal_opportunity_difference, r.fpr_difference, r.fnr_difference);
    nlohmann::json j = report_json(r);
    for (const auto& [k, val_] : v.extra.items()) j[k] = val_;
    out["variants"][v.name] = j;
  }
  std::printf("\n%-35s %8s %8s %8s %8s %8s %8s\n", "per group (test rows)", "n", "base", "select", "TPR", "FPR", "acc");
  for (const Variant& v : variants)
    for (const auto& g : fairness::fairness_report(test.y, v.pred, test.group, all.group_names).groups)
      std::printf("%-26s %-8s %8lld %8.4f %8.4f %8.4f %8.4f %8.4f\n", v.name.c_str(), g.group.c_str(),
                  static_cast<long long>(g.count), g.base_rate, g.selection_rate, g.tpr, g.fpr, g.accuracy);

  // Attributions per group on the test rows.
  std::printf("\nmean |%s| of the favourable class, test rows\n%-22s", method.name.c_str(), "feature");
  const Tensor attr_base = fairness::attribution_by_group(baseline, test, method.name);
  const Tensor attr_rew = fairness::attribution_by_group(reweighed, test, method.name);
  for (const char* m : {"baseline", "reweighing"})
    for (const auto& g : all.group_names) std::printf(" %10.10s:%-8.8s", m, g.c_str());
  std::printf("\n");
  const int64_t d = all.x.dim(1);
  for (int64_t j = 0; j < d; ++j) {
    std::printf("%-22s", all.feature_names[static_cast<size_t>(j)].c_str());
    for (const Tensor* a : {&attr_base, &attr_rew})
      for (int64_t g = 0; g < groups; ++g) std::printf(" %19.4f", a->data<double>()[g * d + j]);
    std::printf("\n");
  }
  auto table = [&](const Tensor& a) {
    nlohmann::json t = nlohmann::json::object();
    for (int64_t g = 0; g < groups; ++g) {
      std::vector<double> row(a.data<double>() + g * d, a.data<double>() + (g + 1) * d);
      t[all.group_names[static_cast<size_t>(g)]] = row;
    }
    return t;
  };
  out["attribution_method"] = method.name;
  out["attribution_by_group"] = {{"baseline", table(attr_base)}, {"reweighing", table(attr_rew)}};
  std::printf("\n");

  save(o.out, "test_labels.npy", int_tensor(test.y), "test labels, 1 = " + ds.positive);
  save(o.out, "test_groups.npy", int_tensor(test.group), "test groups, index into fairness.json's groups");
  for (const Variant& v : variants) save(o.out, "predictions_" + v.name + ".npy", int_tensor(v.pred), "predictions");
  save(o.out, "scores_baseline.npy", Tensor::from_vector({int64_t(base_test.size())}, base_test), "P(favourable)");
  save(o.out, "scores_reweighing.npy", Tensor::from_vector({int64_t(rew_test.size())}, rew_test), "P(favourable)");
  save(o.out, "attribution_by_group_baseline.npy", attr_base, "mean |attribution|");
  save(o.out, "attribution_by_group_reweighing.npy", attr_rew, "mean |attribution|");
  const std::string json_path = (std::filesystem::path(o.out) / "fairness.json").string();
  const std::string text = out.dump(2) + "\n";
  write_file_atomic(json_path, {text});
  print_wrote(json_path, "metrics per variant and group, thresholds, attributions");
}

}  // namespace

void add_fairness_command(CLI::App& app) {
  auto o = std::make_shared<FairnessOptions>();
  CLI::App* cmd =
      app.add_subcommand("fairness",
                         "train an MLP on a tabular data set with a protected attribute; group fairness metrics, "
                         "reweighing and group-threshold mitigations, attributions per group");
  if (!builds_options(*cmd)) return;  // see commands.h
  cmd->add_option("--data", o->data, "data set: " + fairness::tabular_datasets().names(" | "))->capture_default_str();
  cmd->add_option("--data-dir", o->data_dir, "folder with the R package's Rdata.rdx / Rdata.rdb (default: Debian's)");
  cmd->add_option("--protected", o->protected_attribute,
                  "protected attribute (a factor column; default: the data set's)");
  cmd->add_flag("--drop-protected", o->drop_protected, "leave the protected attribute out of the features");
  cmd->add_option("--out", o->out, "output folder")->required();
  cmd->add_option("--epochs", o->mlp.epochs, "training epochs")->capture_default_str()->check(between(1, 10000));
  cmd->add_option("--hidden", o->mlp.hidden, "hidden units")->capture_default_str()->check(between(1, 4096));
  cmd->add_option("--lr", o->mlp.lr, "Adam learning rate")->capture_default_str()->check(CLI::Range(1e-8, 10.0));
  cmd->add_option("--batch-size", o->mlp.batch_size, "mini-batch size")
      ->capture_default_str()
      ->check(between(1, 1 << 16));
  cmd->add_option("--seed", o->mlp.seed, "initialisation and shuffling seed")->capture_default_str();
  cmd->add_option("--split-seed", o->split_seed, "train / validation / test split seed")->capture_default_str();
  cmd->add_option("--validation", o->validation, "fraction of rows for validation (group thresholds)")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 0.9));
  cmd->add_option("--test", o->test, "fraction of rows for test")->capture_default_str()->check(CLI::Range(0.01, 0.9));
  cmd->add_option("--attribution-method", o->method, "registered method for the attributions per group")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "threads (default: $XDNN_NUM_THREADS or all cores)")
      ->check(between(1, 1024));
  cmd->callback([o] { fairness_command(*o); });
}

}  // namespace xdnn::cli
