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

// First-maximum 2x2 stride-2 max-pool straight from the definition: a NaN beats any number, the first
// NaN wins, otherwise the first element equal to the maximum in row-major window order.
void naive_pool2x2(const Tensor& x, Tensor& y, Tensor& arg) {
  const int64_t planes = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3), OH = H / 2, OW = W / 2;
  y = Tensor({x.dim(0), x.dim(1), OH, OW}, x.dtype());
  arg = Tensor(y.shape(), DType::I64);
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        int64_t best = -1;
        double bv = 0;
        for (int64_t i = 0; i < 2; ++i)
          for (int64_t j = 0; j < 2; ++j) {
            const int64_t at = (2 * oh + i) * W + 2 * ow + j;
            const double v = x.item(pl * H * W + at);
            const bool take = best < 0 || (!std::isnan(bv) && (std::isnan(v) || v > bv));
            if (take) best = at, bv = v;
          }
        y.set_item((pl * OH + oh) * OW + ow, bv);
        arg.set_item((pl * OH + oh) * OW + ow, static_cast<double>(best));
      }
}

}  // namespace xdnn::testing
