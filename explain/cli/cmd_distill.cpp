// `xdnn distill --model M (--input X.npy [--labels Y.npy] | --fashion-test N) [--layer L] [--out RULES.txt]`
// `xdnn distill --data arrests [--epochs E --seed S --split-seed S] [--out RULES.txt]`
//
// Distils the network into a decision tree and a rule list fitted to its predictions (Craven & Shavlik
// 1996; Frosst & Hinton 2017; explain/global/distill.h) and prints fidelity and accuracy on held-out rows,
// then the rules. Images: features are the pixels or a layer's values (--layer). Tabular (--data): the MLP
// of `xdnn fairness` is trained on the data set's training rows first; the tree is fitted on the same rows
// and scored on the test rows the MLP never saw.
#include <cstdio>
#include <memory>
#include <string>

#include "engine/error.h"
#include "engine/file_io.h"
#include "explain/cli/commands.h"
#include "explain/fairness/tabular.h"
#include "explain/global/distill.h"
#include "models/io/fashion_mnist.h"

namespace xdnn::cli {

namespace {

struct DistillArgs {
  std::string model, input, labels, layer, data, out, targets = "soft";
  int64_t fashion_test = 0;
  explain::DistillOptions options;
  fairness::MlpConfig mlp;
  uint64_t split_seed = 0;
  CommonOptions common;
};

explain::DistillData tabular_data(const DistillArgs& a, explain::DistillOptions& options) {
  const fairness::TabularDataset& ds = fairness::tabular_datasets().find(a.data);
  const tabular::DataFrame df = fairness::load_tabular_dataset(ds);
  const fairness::RowSplit split = fairness::split_rows(df.rows, 0.0, options.held_out, a.split_seed);
  const fairness::TabularTask all =
      fairness::encode_task(df, ds.target, ds.positive, ds.protected_attribute, false, split.train);
  Model mlp = fairness::build_tabular_mlp(all, a.mlp);
  fairness::train_tabular_mlp(mlp, fairness::take_rows(all, split.train), {}, a.mlp);
  std::printf("%s: %lld rows, %lld features (numeric ones standardised); MLP trained on %zu rows, %d epochs\n",
              df.source.c_str(), static_cast<long long>(df.rows), static_cast<long long>(all.x.dim(1)),
              split.train.size(), a.mlp.epochs);
  explain::DistillData d = explain::distill_data_from_model(mlp, all.x, all.y, "");
  d.feature_names = all.feature_names;
  d.class_names = all.class_names;
  options.test_rows = split.test;
  return d;
}

explain::DistillData model_data(const DistillArgs& a) {
  Model model = load_checked_model(a.model, a.common.allow_nonfinite);
  Tensor x, y;
  if (a.fashion_test > 0) {
    if (!a.input.empty()) throw Error("give either --input or --fashion-test, not both");
    const LabeledImages d = load_fashion_mnist("test", "", a.fashion_test);
    x = d.images;
    y = d.labels;
  } else {
    if (a.input.empty()) throw Error("no input: give --input X.npy or --fashion-test N (or --data arrests)");
    x = load_model_input(a.input, "--input", model, a.common.allow_nonfinite);
  }
  std::vector<int64_t> labels;
  if (!a.labels.empty()) {
    if (a.fashion_test > 0) throw Error("--labels goes with --input; --fashion-test brings its own labels");
    labels = resolve_target_option(a.labels, model, x);
  } else if (y.defined()) {
    labels.assign(y.data<int64_t>(), y.data<int64_t>() + y.numel());
  }
  explain::DistillData d = explain::distill_data_from_model(model, x, labels, a.layer);
  if (d.class_names.empty() && a.fashion_test > 0)
    d.class_names.assign(fashion_mnist_classes().begin(), fashion_mnist_classes().end());
  return d;
}

void run_distill(DistillArgs a) {
  if (a.targets != "soft" && a.targets != "argmax") throw Error("--targets " + a.targets + ": expected soft or argmax");
  a.options.soft = a.targets == "soft";
  if (!a.out.empty()) check_output_path(a.out, "--out", {a.model, a.input, a.labels});  // before any work
  a.common.apply();
  explain::DistillData d;
  if (!a.data.empty()) {
    if (!a.model.empty() || !a.input.empty() || a.fashion_test > 0 || !a.layer.empty() || !a.labels.empty())
      throw Error("--data trains its own MLP: give it without --model, --input, --fashion-test, --labels, --layer");
    d = tabular_data(a, a.options);
  } else {
    if (a.model.empty()) throw Error("give --model M (with --input or --fashion-test) or --data arrests");
    d = model_data(a);
  }
  const explain::DistillResult r = explain::distill(d, a.options);
  const std::string text = explain::distill_summary(r) + "\nrule list:\n" +
                           explain::format_rules(r.rules, r.feature_names, r.class_names) + "\ndecision tree:\n" +
                           explain::format_tree(r.tree, r.feature_names, r.class_names);
  std::fputs(text.c_str(), stdout);
  if (!a.out.empty()) {
    write_file_atomic(a.out, {text});
    print_wrote(a.out, "the rules and the tree, text");
  }
}

}  // namespace

void add_distill_command(CLI::App& app) {
  auto a = std::make_shared<DistillArgs>();
  CLI::App* cmd = app.add_subcommand(
      "distill", "distil the network into a decision tree and a rule list; fidelity and accuracy on held-out rows");
  if (!builds_options(*cmd)) return;  // see commands.h
  cmd->add_option("--model", a->model, "ONNX file, zoo name or checkpoint");
  cmd->add_option("--input", a->input, "inputs .npy (N, ...)");
  cmd->add_option("--labels", a->labels, "true classes of --input, int64 or int32 (N,), for the accuracy");
  cmd->add_option("--fashion-test", a->fashion_test, "instead of --input: the first N Fashion-MNIST test images")
      ->check(between(1, 10000));
  cmd->add_option("--layer", a->layer, "features: this tensor's values, flattened (default: the input itself)");
  cmd->add_option("--data", a->data,
                  "instead of --model: a tabular data set (" + fairness::tabular_datasets().names(" | ") +
                      "); trains the MLP of xdnn fairness on its training rows");
  cmd->add_option("--epochs", a->mlp.epochs, "with --data: MLP training epochs")
      ->capture_default_str()
      ->check(between(1, 10000));
  cmd->add_option("--split-seed", a->split_seed, "with --data: the train / test split's seed")->capture_default_str();
  cmd->add_option("--max-depth", a->options.tree.max_depth, "tree depth limit")
      ->capture_default_str()
      ->check(between(1, 64));
  cmd->add_option("--min-leaf", a->options.tree.min_leaf, "fewest rows on each side of a split")
      ->capture_default_str()
      ->check(between(1, 1e9));
  cmd->add_option("--targets", a->targets, "fit the network's softmax (soft) or a one-hot of its argmax")
      ->capture_default_str()
      ->check(CLI::IsMember({"soft", "argmax"}));
  cmd->add_option("--held-out", a->options.held_out, "share of the rows kept out of the fit")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 0.99));
  cmd->add_option("--seed", a->options.seed, "the split's shuffle (and with --data the MLP's seed)")
      ->capture_default_str();
  cmd->add_option("--out", a->out, "write the summary, the rules and the tree to this text file");
  add_common_options(cmd, a->common);
  cmd->callback([a] {
    DistillArgs args = *a;
    args.mlp.seed = args.options.seed;
    run_distill(args);
  });
}

}  // namespace xdnn::cli
