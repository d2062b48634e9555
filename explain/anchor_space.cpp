// Anchors' predicates and D(·|A); see anchor_space.h.
#include "explain/anchor_space.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "explain/point.h"

namespace xdnn::explain {
namespace {

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// The q-quantile of sorted values, numpy's default (linear interpolation between order statistics).
double quantile(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t i = static_cast<size_t>(std::floor(pos));
  const double frac = pos - static_cast<double>(i);
  return i + 1 < sorted.size() ? sorted[i] + frac * (sorted[i + 1] - sorted[i]) : sorted[i];
}

std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    out.push_back(text.substr(start, comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

}  // namespace

std::string AnchorPredicate::text() const {
  switch (op) {
    case Op::Greater:
      return name + " > " + number_text(value);
    case Op::AtMost:
      return name + " <= " + number_text(value);
    case Op::Kept:
      break;
  }
  return token >= 0 ? "token " + std::to_string(token) + " at " + name : name + " kept";
}

AnchorSpace AnchorSpace::make(const ExplainRequest& req) {
  AnchorSpace s;
  const Perturber p = make_perturber(req, "anchors");  // validates --baseline / --pad-id
  s.x_ = p.tokens ? p.x : p.x.to(DType::F64);
  s.replace_prob_ = req.options.get_double("replace-prob", 0.5);
  if (!(s.replace_prob_ > 0 && s.replace_prob_ <= 1))
    throw Error("--replace-prob " + req.options.get("replace-prob", "") + ": expected a probability in (0, 1]");
  const std::string background = req.options.get("background", "");
  const bool tabular = !p.tokens && s.x_.ndim() == 2;
  if (!tabular && !background.empty())
    throw Error("anchors: --background applies to tabular inputs (N, D), got " + s.x_.describe(),
                p.tokens ? "token inputs replace tokens by --pad-id" : "image groups are replaced by --baseline");
  if (!tabular && req.options.has("feature-names") && !req.options.get("feature-names", "").empty())
    throw Error("anchors: --feature-names applies to tabular inputs (N, D)");
  if (!p.tokens && !req.options.get("padding-id", "").empty())
    throw Error("anchors: --padding-id applies to token inputs (N, T)");

  if (p.tokens) {
    s.kind = Kind::Tokens;
    s.features = "tokens";
    s.pad_id_ = p.pad_id;
    s.padding_id_ = req.options.get("padding-id", "").empty() ? s.pad_id_ : req.options.get_int("padding-id", 0);
    const int64_t T = s.x_.dim(1);
    const int64_t* ids = s.x_.data<int64_t>();
    for (int64_t t = 0; t < T; ++t)
      if (ids[t] != s.padding_id_)  // padding is not "present": never replaced, never in a rule
        s.predicates.push_back({t, AnchorPredicate::Op::Kept, 0, ids[t], "position " + std::to_string(t)});
    return s;
  }
  if (!tabular) {
    s.kind = Kind::Groups;
    s.groups_ = feature_groups(req.options, p.x, false);
    s.features = s.groups_.source;
    s.baseline_ = p.baseline.to(DType::F64);
    for (int64_t g = 0; g < s.groups_.count; ++g)
      s.predicates.push_back({g, AnchorPredicate::Op::Kept, 0, -1, "group " + std::to_string(g)});
    return s;
  }

  s.kind = Kind::Tabular;
  s.features = "columns";
  if (!req.options.get("baseline", "").empty())
    throw Error("anchors: --baseline applies to image inputs; tabular inputs draw from --background");
  const int64_t D = s.x_.dim(1);
  if (background.empty())
    throw Error("anchors: tabular inputs (N, " + std::to_string(D) + ") need --background B.npy",
                "a float32 (M, " + std::to_string(D) + ") sample of the data: it sets the bins and D(.|A)");
  const Tensor& b = req.options.array("background");
  if (!b.is_float() || b.ndim() != 2 || b.dim(1) != D || b.dim(0) < 1)
    throw Error("--background " + background + ": expected a float32 matrix (M, " + std::to_string(D) +
                "), M >= 1, one row per data sample, got " + b.describe());
  s.background_ = b.to(DType::F64);
  for (int64_t i = 0, i_end = b.numel(); i < i_end; ++i)
    if (!std::isfinite(s.background_.data<double>()[i]))
      throw Error("--background " + background + ": element " + std::to_string(i) + " is not finite");
  const int64_t bins = req.options.get_int("bins", 4);
  if (bins < 2 || bins > 100) throw Error("--bins " + req.options.get("bins", "") + ": expected 2..100 bins");
  std::vector<std::string> names;
  const std::string names_text = req.options.get("feature-names", "");
  if (!names_text.empty()) {
    names = split_names(names_text);
    if (static_cast<int64_t>(names.size()) != D)
      throw Error("--feature-names: expected " + std::to_string(D) + " comma-separated names (one per column), got " +
                  std::to_string(names.size()));
  }
  const int64_t M = s.background_.dim(0);
  const double* pb = s.background_.data<double>();
  for (int64_t d = 0; d < D; ++d) {
    std::vector<double> column(M);
    for (int64_t m = 0; m < M; ++m) column[m] = pb[m * D + d];
    std::sort(column.begin(), column.end());
    std::vector<double> edges;  // q_1 .. q_{bins−1}
    for (int64_t k = 1; k < bins; ++k) edges.push_back(quantile(column, static_cast<double>(k) / bins));
    const double v = s.x_.data<double>()[d];
    const int64_t bin = std::count_if(edges.begin(), edges.end(), [&](double e) { return e < v; });
    const std::string name = names.empty() ? "feature " + std::to_string(d) : names[d];
    if (bin > 0) s.predicates.push_back({d, AnchorPredicate::Op::Greater, edges[bin - 1], -1, name});
    if (bin < bins - 1) s.predicates.push_back({d, AnchorPredicate::Op::AtMost, edges[bin], -1, name});
  }
  return s;
}

namespace {

// The interval (lo, hi] a tabular anchor allows each column.
struct Intervals {
  std::vector<double> lo, hi;
  std::vector<char> constrained;
};

Intervals intervals(const std::vector<AnchorPredicate>& predicates, const Anchor& a, int64_t D) {
  Intervals iv{std::vector<double>(D, -INFINITY), std::vector<double>(D, INFINITY), std::vector<char>(D, 0)};
  for (int i : a) {
    const AnchorPredicate& p = predicates[i];
    iv.constrained[p.feature] = 1;
    if (p.op == AnchorPredicate::Op::Greater) iv.lo[p.feature] = std::max(iv.lo[p.feature], p.value);
    if (p.op == AnchorPredicate::Op::AtMost) iv.hi[p.feature] = std::min(iv.hi[p.feature], p.value);
  }
  return iv;
}

bool inside(const Intervals& iv, int64_t d, double v) { return v > iv.lo[d] && v <= iv.hi[d]; }

}  // namespace

double AnchorSpace::coverage(const Anchor& a) const {
  if (kind != Kind::Tabular) return std::pow(1.0 - replace_prob_, static_cast<double>(a.size()));
  const int64_t M = background_.dim(0), D = background_.dim(1);
  const Intervals iv = intervals(predicates, a, D);
  const double* pb = background_.data<double>();
  int64_t covered = 0;
  for (int64_t m = 0; m < M; ++m) {
    bool ok = true;
    for (int64_t d = 0; d < D && ok; ++d) ok = !iv.constrained[d] || inside(iv, d, pb[m * D + d]);
    covered += ok;
  }
  return static_cast<double>(covered) / static_cast<double>(M);
}

Shape AnchorSpace::row_shape(int64_t rows) const {
  Shape s = x_.shape();
  s[0] = rows;
  return s;
}

void AnchorSpace::draw(const Anchor& a, int64_t count, SplitMix64& rng, Tensor& rows, int64_t row0) const {
  const int64_t per = x_.numel();
  if (kind == Kind::Tabular) {
    const int64_t M = background_.dim(0), D = per;
    const Intervals iv = intervals(predicates, a, D);
    const double* pb = background_.data<double>();
    std::vector<std::vector<double>> allowed(D);  // background values of column d inside its interval
    for (int64_t d = 0; d < D; ++d)
      if (iv.constrained[d])
        for (int64_t m = 0; m < M; ++m)
          if (inside(iv, d, pb[m * D + d])) allowed[d].push_back(pb[m * D + d]);
    double* out = rows.data<double>() + row0 * D;
    for (int64_t r = 0; r < count; ++r) {
      const int64_t m = std::min(M - 1, static_cast<int64_t>(rng.uniform() * static_cast<double>(M)));
      for (int64_t d = 0; d < D; ++d) {
        double v = pb[m * D + d];
        if (iv.constrained[d] && !inside(iv, d, v)) {
          const std::vector<double>& values = allowed[d];
          const int64_t k = static_cast<int64_t>(values.size());
          v = k == 0 ? x_.data<double>()[d]
                     : values[std::min(k - 1, static_cast<int64_t>(rng.uniform() * static_cast<double>(k)))];
        }
        out[r * D + d] = v;
      }
    }
    return;
  }
  // Tokens and groups: feature f is kept when the anchor holds it, else with probability 1 − replace-prob.
  const int64_t F = kind == Kind::Tokens ? per : groups_.count;
  std::vector<char> anchored(F, 0), kept(F);
  for (int i : a) anchored[predicates[i].feature] = 1;
  const int64_t* ids = kind == Kind::Tokens ? x_.data<int64_t>() : nullptr;
  for (int64_t r = 0; r < count; ++r) {
    for (int64_t f = 0; f < F; ++f) {
      const bool draw_keeps = rng.uniform() >= replace_prob_;  // one draw per feature, kept or not
      kept[f] = anchored[f] || draw_keeps || (ids && ids[f] == padding_id_);
    }
    if (kind == Kind::Tokens) {
      int64_t* out = rows.data<int64_t>() + (row0 + r) * per;
      for (int64_t t = 0; t < per; ++t) out[t] = kept[t] ? ids[t] : pad_id_;
    } else {
      const double* px = x_.data<double>();
      const double* pbase = baseline_.data<double>();
      double* out = rows.data<double>() + (row0 + r) * per;
      for (int64_t i = 0; i < per; ++i) out[i] = kept[groups_.group_of[i]] ? px[i] : pbase[i];
    }
  }
}

Tensor AnchorSpace::mask(const Anchor& a) const {
  Tensor m(x_.shape(), DType::F64);
  double* pm = m.data<double>();
  const int64_t per = x_.numel();
  for (int i : a) {
    const int64_t f = predicates[i].feature;
    if (kind == Kind::Groups) {
      for (int64_t e = 0; e < per; ++e)
        if (groups_.group_of[e] == f) pm[e] = 1.0;
    } else {
      pm[f] = 1.0;
    }
  }
  return m;
}

}  // namespace xdnn::explain
