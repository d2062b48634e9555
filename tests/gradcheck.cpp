#include "tests/gradcheck.h"

#include <algorithm>
#include <cmath>

namespace xdnn::testing {

double max_rel_diff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) throw Error("max_rel_diff: shapes " + a.describe() + " vs " + b.describe());
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double d = std::abs(a.item(i) - b.item(i)) / std::max(1.0, std::abs(b.item(i)));
    if (!(d <= m)) m = d;  // NaN propagates as a failure
  }
  return m;
}

double rel_l2(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) throw Error("rel_l2: shapes " + a.describe() + " vs " + b.describe());
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double d = a.item(i) - b.item(i);
    num += d * d;
    den += b.item(i) * b.item(i);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

Tensor numeric_gradient(const std::function<double()>& f, Tensor& x, double h) {
  Tensor g(x.shape(), DType::F64);
  for (int64_t i = 0; i < x.numel(); ++i) {
    double v = x.item(i);
    x.set_item(i, v + h);
    double fp = f();
    x.set_item(i, v - h);
    double fm = f();
    x.set_item(i, v);
    g.set_item(i, (fp - fm) / (2 * h));
  }
  return g;
}

}  // namespace xdnn::testing
