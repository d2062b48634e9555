// The predicates an Anchors rule is made of and the perturbation distribution D(·|A) of Ribeiro, Singh &
// Guestrin 2018 ("Anchors: high-precision model-agnostic explanations", AAAI, §2 and §3), for one sample x:
//   - tabular input (1, D) with --background B.npy (M, D): column d is discretised into --bins bins at the
//     quantiles of the background column (quartiles by default; numpy's linear interpolation); x_d's bin
//     (q_b, q_{b+1}] gives up to two predicates, "x_d > q_b" (b > 0) and "x_d <= q_{b+1}" (b < bins − 1),
//     as the authors' anchor_tabular does. D(·|A): a background row drawn uniformly; every column the
//     anchor constrains and the row violates takes a background value of that column inside the allowed
//     interval, drawn uniformly (x_d itself when none lies there). coverage(A) = the fraction of background
//     rows that satisfy A (D(·|∅) is the background).
//   - token ids (1, T): predicate "token x_t at position t" for every position whose id is not the padding
//     id (--padding-id, default --pad-id); padding positions are never replaced. Replacing by an UNK token
//     (as the paper) while the sequences are padded with another id: --pad-id UNK --padding-id PAD.
//   - images (1, C, H, W): predicate "feature group g kept" for every group of --feature-mask (grid:S,
//     slic:K, a .npy), as LIME's superpixels.
//   For tokens and images D(·|A) keeps the anchor's features and replaces each other feature with
//   probability --replace-prob (tokens by --pad-id, image groups by --baseline), independently; so
//   coverage(A) = (1 − replace-prob)^|A| exactly.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "explain/perturbation.h"

namespace xdnn::explain {

struct AnchorPredicate {
  enum class Op { Kept, Greater, AtMost };
  int64_t feature = 0;  // column, token position or feature group
  Op op = Op::Kept;
  double value = 0;          // the bound of Greater / AtMost
  int64_t token = -1;        // tokens: the id at that position
  std::string name;          // "feature 2" (or its --feature-names entry), "position 3", "group 4"
  std::string text() const;  // "feature 2 > 0.5", "token 17 at position 3", "group 4 kept"
};

// An anchor: indices into AnchorSpace::predicates, sorted ascending, no repeats.
using Anchor = std::vector<int>;

class AnchorSpace {
 public:
  enum class Kind { Tabular, Tokens, Groups };
  Kind kind = Kind::Tabular;
  std::vector<AnchorPredicate> predicates;
  std::string features;  // "columns", "tokens" or the --feature-mask source

  // The space of sample `req.input` (one sample: (1, ...)); validates the options it reads.
  static AnchorSpace make(const ExplainRequest& req);

  double coverage(const Anchor& a) const;
  // `count` draws of D(·|a), rows [row0, row0 + count) of `rows` ((R, ...) F64 for float inputs, I64 ids).
  void draw(const Anchor& a, int64_t count, SplitMix64& rng, Tensor& rows, int64_t row0) const;
  // 1 on the input elements of the anchor's features, 0 elsewhere: the sample's shape (1, ...), F64.
  Tensor mask(const Anchor& a) const;
  // The shape of the rows draw() fills, with `rows` rows, and their dtype.
  Shape row_shape(int64_t rows) const;
  DType row_dtype() const { return kind == Kind::Tokens ? DType::I64 : DType::F64; }

 private:
  Tensor x_;           // the sample, (1, ...): F64, or I64 ids
  Tensor background_;  // tabular: (M, D) F64
  Tensor baseline_;    // groups: (1, C, H, W) F64
  FeatureGroups groups_;
  int64_t pad_id_ = 0;      // tokens: the id that replaces a token
  int64_t padding_id_ = 0;  // tokens: the id of padding positions (kept as they are)
  double replace_prob_ = 0.5;
};

}  // namespace xdnn::explain
