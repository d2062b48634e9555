// Tabular task encoding, split and the weighted MLP. See tabular.h.
#include "explain/fairness/tabular.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "engine/check.h"
#include "engine/random.h"
#include "explain/registry.h"
#include "layers/linear.h"
#include "layers/relu.h"
#include "models/train/optim.h"
#include "models/train/train.h"

namespace xdnn::fairness {

explain::ChoiceRegistry<TabularDataset>& tabular_datasets() {
  static explain::ChoiceRegistry<TabularDataset> registry(
      "tabular data set",
      {
          {"arrests",
           "Toronto Star arrests for marijuana possession 1997-2002 (Fox, carData::Arrests): released with a "
           "summons, 5226 rows",
           "r-cran-cardata", "carData", "Arrests", "released", "Yes", "colour"},
      });
  return registry;
}

tabular::DataFrame load_tabular_dataset(const TabularDataset& d, const std::string& dir) {
  const std::string folder = dir.empty() ? "/usr/lib/R/site-library/" + d.r_package + "/data" : dir;
  tabular::DataFrame df = tabular::read_r_data_frame(folder, d.object, d.package);
  df.source = d.r_package + "::" + d.object;
  return df;
}

namespace {

void check_no_na(const tabular::Column& c, const std::string& source) {
  for (size_t i = 0; i < c.values.size(); ++i)
    if (std::isnan(c.values[i]))
      throw Error(source + " column '" + c.name + "': NA in row " + std::to_string(i + 1),
                  "rows with missing values are not supported");
}

}  // namespace

TabularTask encode_task(const tabular::DataFrame& df, const std::string& target, const std::string& positive,
                        const std::string& protected_attribute, bool drop_protected,
                        const std::vector<int64_t>& fit_rows) {
  const tabular::Column& y_col = df.column(target, "target");
  const tabular::Column& g_col = df.column(protected_attribute, "protected attribute");
  check(y_col.is_factor(), df.source + " column '" + target + "' (target): expected a factor");
  check(g_col.is_factor(),
        df.source + " column '" + protected_attribute + "' (protected attribute): expected a factor");
  check(target != protected_attribute, "the protected attribute cannot be the target ('" + target + "')");
  const auto pos_it = std::find(y_col.levels.begin(), y_col.levels.end(), positive);
  if (pos_it == y_col.levels.end()) throw Error(df.source + " column '" + target + "' has no level '" + positive + "'");
  const double pos_code = static_cast<double>(pos_it - y_col.levels.begin());
  check(!fit_rows.empty(), "encode_task: no rows to fit the encoding on");

  TabularTask t;
  t.protected_attribute = protected_attribute;
  t.group_names = g_col.levels;
  t.class_names = {"not " + positive, positive};
  const int64_t n = df.rows;
  check_no_na(y_col, df.source);
  check_no_na(g_col, df.source);
  for (int64_t i = 0; i < n; ++i) {
    t.y.push_back(y_col.values[static_cast<size_t>(i)] == pos_code ? 1 : 0);
    t.group.push_back(static_cast<int64_t>(g_col.values[static_cast<size_t>(i)]));
  }
  // Each feature as a column of n doubles first; packed into (N, D) below.
  std::vector<std::vector<double>> features;
  for (const tabular::Column& c : df.columns) {
    if (c.name == target || (drop_protected && c.name == protected_attribute)) continue;
    check_no_na(c, df.source);
    if (c.is_factor()) {
      for (size_t l = 0; l < c.levels.size(); ++l) {
        std::vector<double> f(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) f[static_cast<size_t>(i)] = c.values[static_cast<size_t>(i)] == double(l);
        features.push_back(std::move(f));
        t.feature_names.push_back(c.name + "=" + c.levels[l]);
      }
      continue;
    }
    double mean = 0, var = 0;
    for (int64_t r : fit_rows) mean += c.values.at(static_cast<size_t>(r));
    mean /= static_cast<double>(fit_rows.size());
    for (int64_t r : fit_rows)
      var += (c.values[static_cast<size_t>(r)] - mean) * (c.values[static_cast<size_t>(r)] - mean);
    const double sd = std::sqrt(var / static_cast<double>(fit_rows.size()));
    if (!(sd > 0)) throw Error(df.source + " column '" + c.name + "' is constant on the training rows");
    std::vector<double> f(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) f[static_cast<size_t>(i)] = (c.values[static_cast<size_t>(i)] - mean) / sd;
    features.push_back(std::move(f));
    t.feature_names.push_back(c.name);
  }
  check(!features.empty(), df.source + ": no feature columns left");
  const auto d = static_cast<int64_t>(features.size());
  t.x = Tensor::empty({n, d}, DType::F32);
  float* x = t.x.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j)
      x[i * d + j] = static_cast<float>(features[static_cast<size_t>(j)][static_cast<size_t>(i)]);
  return t;
}

TabularTask take_rows(const TabularTask& t, const std::vector<int64_t>& idx) {
  TabularTask out = t;
  const int64_t d = t.x.dim(1), n = static_cast<int64_t>(idx.size());
  out.x = Tensor::empty({n, d}, DType::F32);
  out.y.clear();
  out.group.clear();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = idx[static_cast<size_t>(i)];
    check(r >= 0 && r < t.x.dim(0), "take_rows: row " + std::to_string(r) + " out of range");
    std::memcpy(out.x.data<float>() + i * d, t.x.data<float>() + r * d, static_cast<size_t>(d) * sizeof(float));
    out.y.push_back(t.y[static_cast<size_t>(r)]);
    out.group.push_back(t.group[static_cast<size_t>(r)]);
  }
  return out;
}

RowSplit split_rows(int64_t n, double validation_fraction, double test_fraction, uint64_t seed) {
  check(validation_fraction >= 0 && test_fraction >= 0 && validation_fraction + test_fraction < 1,
        "split: validation and test fractions must be >= 0 and sum to less than 1");
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.below(static_cast<uint64_t>(i + 1))]);
  const auto n_val = static_cast<size_t>(std::llround(validation_fraction * static_cast<double>(n)));
  const auto n_test = static_cast<size_t>(std::llround(test_fraction * static_cast<double>(n)));
  RowSplit s;
  s.test.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_test));
  s.validation.assign(order.begin() + static_cast<std::ptrdiff_t>(n_test),
                      order.begin() + static_cast<std::ptrdiff_t>(n_test + n_val));
  s.train.assign(order.begin() + static_cast<std::ptrdiff_t>(n_test + n_val), order.end());
  check(!s.train.empty(), "split: no training rows left");
  return s;
}

Model build_tabular_mlp(const TabularTask& t, const MlpConfig& cfg) {
  check(cfg.hidden >= 1, "--hidden must be >= 1");
  Rng rng(cfg.seed);
  const int64_t d = t.x.dim(1);
  Model m;
  m.add_input("features");
  m.input_shape = {d};
  m.class_names = t.class_names;
  auto fc1 = std::make_shared<Linear>("fc1", d, cfg.hidden);
  fc1->init(rng);
  auto fc2 = std::make_shared<Linear>("fc2", cfg.hidden, 2);
  fc2->init(rng);
  m.append("fc1", fc1);
  m.append("relu1", std::make_shared<ReLU>());
  m.append("fc2", fc2);
  return m;
}

void train_tabular_mlp(Model& model, const TabularTask& train, const std::vector<double>& weights,
                       const MlpConfig& cfg) {
  const int64_t n = train.x.dim(0), d = train.x.dim(1);
  check(weights.empty() || static_cast<int64_t>(weights.size()) == n,
        "sample weights: " + std::to_string(weights.size()) + " for " + std::to_string(n) + " rows");
  check(cfg.epochs >= 1 && cfg.batch_size >= 1, "training needs epochs >= 1 and batch size >= 1");
  OptimizerConfig oc;
  oc.lr = cfg.lr;
  validate(oc);
  Optimizer opt(oc, model.params());
  BackwardOptions bopt;
  bopt.param_grad = ParamGrad::Accumulate;
  bopt.input_grad = false;
  const int out_id = model.outputs()[0];
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int epoch = 1; epoch <= cfg.epochs; ++epoch) {
    std::iota(order.begin(), order.end(), 0);
    Rng rng(epoch_seed(cfg.seed, epoch, 1));
    for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.below(static_cast<uint64_t>(i + 1))]);
    for (int64_t b = 0; b < n; b += cfg.batch_size) {
      const int64_t e = std::min(n, b + cfg.batch_size), bn = e - b;
      Tensor xb = Tensor::empty({bn, d}, DType::F32);
      for (int64_t i = 0; i < bn; ++i)
        std::memcpy(xb.data<float>() + i * d, train.x.data<float>() + order[b + i] * d,
                    static_cast<size_t>(d) * sizeof(float));
      Tape tape = model.forward({xb});
      const Tensor logits = tape.values[out_id].to(DType::F64);  // (bn, 2)
      // d/dz of Σ w_i CE_i / Σ w_i = w_i (softmax(z_i) − onehot(y_i)) / Σ w.
      double wsum = 0;
      for (int64_t i = 0; i < bn; ++i) wsum += weights.empty() ? 1.0 : weights[static_cast<size_t>(order[b + i])];
      std::vector<float> grad(static_cast<size_t>(bn * 2));
      for (int64_t i = 0; i < bn; ++i) {
        const int64_t r = order[b + i];
        const double z0 = logits.data<double>()[i * 2], z1 = logits.data<double>()[i * 2 + 1];
        const double p1 = 1.0 / (1.0 + std::exp(z0 - z1));
        const double w = (weights.empty() ? 1.0 : weights[static_cast<size_t>(r)]) / wsum;
        const double y1 = static_cast<double>(train.y[static_cast<size_t>(r)]);
        grad[static_cast<size_t>(i * 2)] = static_cast<float>(w * ((1 - p1) - (1 - y1)));
        grad[static_cast<size_t>(i * 2 + 1)] = static_cast<float>(w * (p1 - y1));
      }
      opt.zero_grad();
      model.backward(tape, {{out_id, Tensor::from_vector({bn, 2}, grad)}}, bopt);
      opt.step();
    }
  }
}

std::vector<double> positive_scores(const Model& model, const Tensor& x) {
  const Tensor logits = model.predict(x).to(DType::F64);
  check(logits.ndim() == 2 && logits.dim(1) == 2, "positive_scores: expected (N, 2) logits, got " + logits.describe());
  std::vector<double> s(static_cast<size_t>(logits.dim(0)));
  for (int64_t i = 0; i < logits.dim(0); ++i)
    s[static_cast<size_t>(i)] = 1.0 / (1.0 + std::exp(logits.data<double>()[i * 2] - logits.data<double>()[i * 2 + 1]));
  return s;
}

Tensor attribution_by_group(const Model& model, const TabularTask& t, const std::string& method) {
  const explain::MethodInfo& info = explain::find_method(method);
  explain::ExplainRequest req;
  req.model = &model;
  req.input = t.x;
  req.targets.assign(static_cast<size_t>(t.x.dim(0)), 1);
  req.options = explain::resolve_options(info, {});
  const Tensor a = explain::run_in_chunks(info, req).values.to(DType::F64);
  check(a.numel() == t.x.numel(),
        method + ": attribution " + a.describe() + " does not match the features " + t.x.describe());
  const int64_t groups = static_cast<int64_t>(t.group_names.size()), d = t.x.dim(1);
  std::vector<double> sum(static_cast<size_t>(groups * d), 0.0), count(static_cast<size_t>(groups), 0.0);
  for (int64_t i = 0; i < t.x.dim(0); ++i) {
    const int64_t g = t.group[static_cast<size_t>(i)];
    count[static_cast<size_t>(g)] += 1;
    for (int64_t j = 0; j < d; ++j) sum[static_cast<size_t>(g * d + j)] += std::fabs(a.data<double>()[i * d + j]);
  }
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t j = 0; j < d; ++j)
      if (count[static_cast<size_t>(g)] > 0) sum[static_cast<size_t>(g * d + j)] /= count[static_cast<size_t>(g)];
  return Tensor::from_vector({groups, d}, sum);
}

}  // namespace xdnn::fairness
