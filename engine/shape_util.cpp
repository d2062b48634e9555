#include "engine/shape_util.h"

#include <algorithm>
#include <string>

namespace xdnn {

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) throw Error("cannot broadcast shapes " + shape_str(a) + " and " + shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

AxisLines axis_lines(const Shape& s, int axis, const char* what) {
  const int n = static_cast<int>(s.size());
  const int a = axis < 0 ? axis + n : axis;
  if (a < 0 || a >= n)
    throw Error(std::string(what) + ": axis " + std::to_string(axis) + " is out of range for shape " + shape_str(s));
  AxisLines l{1, s[a], 1};
  for (int i = 0; i < a; ++i) l.outer *= s[i];
  for (int i = a + 1; i < n; ++i) l.inner *= s[i];
  return l;
}

Shape concat_shape(const std::vector<Tensor>& xs, int64_t axis) {
  if (xs.empty()) throw Error("concat: no inputs");
  const Tensor& a = xs[0];
  if (axis < 0 || axis >= a.ndim())
    throw Error("concat: axis " + std::to_string(axis) + " out of range for " + a.describe());
  Shape out = a.shape();
  out[axis] = 0;
  for (const Tensor& t : xs) {
    if (t.dtype() != a.dtype() || t.ndim() != a.ndim())
      throw Error("concat: inputs " + a.describe() + " and " + t.describe() + " do not match");
    for (int d = 0; d < a.ndim(); ++d)
      if (d != axis && t.dim(d) != a.dim(d))
        throw Error("concat: inputs " + a.describe() + " and " + t.describe() + " differ outside axis " +
                    std::to_string(axis));
    out[axis] += t.dim(static_cast<int>(axis));
  }
  return out;
}

PermutedShape permuted_shape(const Tensor& x, const std::vector<int64_t>& perm) {
  const Shape xs = x.strides();
  PermutedShape p{Shape(perm.size()), std::vector<int64_t>(perm.size())};
  std::vector<bool> seen(perm.size(), false);
  for (size_t i = 0; i < perm.size(); ++i) {
    const int64_t a = perm[i];
    if (a < 0 || a >= x.ndim() || seen[a]) throw Error("transpose: invalid permutation for input " + x.describe());
    seen[a] = true;
    p.shape[i] = x.dim(static_cast<int>(a));
    p.source_strides[i] = xs[a];
  }
  return p;
}

}  // namespace xdnn
