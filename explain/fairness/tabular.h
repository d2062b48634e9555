// A tabular classification task with a protected attribute, built from an R data frame
// (models/io/data_frame.h), and the small MLP that xdnn trains on it, with optional sample weights.
//
// Encoding (fit on the training rows only, applied to every row):
//   numeric column c   -> one feature (x − mean_train) / sd_train (population sd; a constant column is an error)
//   factor column c    -> one 0/1 feature per level, named "c=level" (full one-hot: no reference level, so an
//                         attribution names every level)
//   the target factor  -> y = 1 where it equals the favourable level, else 0 (not a feature)
//   the protected one  -> group = its level index; a feature too unless drop_protected
// A row with NA in a used column is an error naming the column (the packaged data sets have none).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "explain/choices.h"
#include "models/io/data_frame.h"
#include "models/model.h"

namespace xdnn::fairness {

// A data set shipped by a Debian package of R data, with its task.
struct TabularDataset {
  std::string name;                 // --data value: "arrests"
  std::string description;          // one line
  std::string package;              // Debian package: "r-cran-cardata"
  std::string r_package;            // folder under /usr/lib/R/site-library: "carData"
  std::string object;               // object in its data/Rdata lazy-load database: "Arrests"
  std::string target;               // factor column predicted: "released"
  std::string positive;             // its favourable level: "Yes"
  std::string protected_attribute;  // default --protected: "colour"
};
explain::ChoiceRegistry<TabularDataset>& tabular_datasets();

// `dir` if non-empty, else /usr/lib/R/site-library/<r_package>/data.
tabular::DataFrame load_tabular_dataset(const TabularDataset& d, const std::string& dir = "");

struct TabularTask {
  Tensor x;                                // (N, D) float32 encoded features
  std::vector<int64_t> y;                  // (N) 1 = favourable outcome
  std::vector<int64_t> group;              // (N) level index of the protected attribute
  std::vector<std::string> feature_names;  // (D)
  std::vector<std::string> group_names;    // the protected attribute's levels
  std::vector<std::string> class_names;    // {"not <positive>", "<positive>"}
  std::string protected_attribute;
};

// Encodes `df` as described above; statistics from `fit_rows` (indices into df's rows).
TabularTask encode_task(const tabular::DataFrame& df, const std::string& target, const std::string& positive,
                        const std::string& protected_attribute, bool drop_protected,
                        const std::vector<int64_t>& fit_rows);

// Rows `idx` of a task (same features and names).
TabularTask take_rows(const TabularTask& t, const std::vector<int64_t>& idx);

// A seeded shuffle of 0..n−1 cut into train / validation / test; the last two get round(fraction·n) rows.
struct RowSplit {
  std::vector<int64_t> train, validation, test;
};
RowSplit split_rows(int64_t n, double validation_fraction, double test_fraction, uint64_t seed);

struct MlpConfig {
  int64_t hidden = 32;  // one hidden ReLU layer: Linear(D, hidden) → ReLU → Linear(hidden, 2)
  int epochs = 30;
  int64_t batch_size = 64;
  double lr = 3e-3;  // Adam
  uint64_t seed = 0;
};

Model build_tabular_mlp(const TabularTask& t, const MlpConfig& cfg);

// Mini-batch Adam on the weighted mean cross-entropy Σ_i w_i CE_i / Σ_i w_i over each batch (Kamiran &
// Calders' weights enter the loss here); empty weights = all 1, the usual mean. Shuffles with
// Rng(seed, epoch) as models/train/train.h does; bit-identical for any thread count.
void train_tabular_mlp(Model& model, const TabularTask& train, const std::vector<double>& weights,
                       const MlpConfig& cfg);

// P(y = 1 | x) per row: softmax of the model's two logits, class 1.
std::vector<double> positive_scores(const Model& model, const Tensor& x);

// Mean |attribution| of each feature within each group: (groups, D), row g = mean over the rows of group g
// of |a_i| for the attribution a of class 1 by the registered `method` with its default options.
Tensor attribution_by_group(const Model& model, const TabularTask& t, const std::string& method);

}  // namespace xdnn::fairness
