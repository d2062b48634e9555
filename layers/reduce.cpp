#include "layers/reduce.h"

#include <algorithm>
#include <cmath>

#include "engine/ops.h"

namespace xdnn {

const char* Reduce::kind() const {
  if (first_axis_ >= 0) return op_ == Op::Max ? "GlobalMaxPool" : "GlobalReduce";
  switch (op_) {
    case Op::Sum:
      return "ReduceSum";
    case Op::Max:
      return "ReduceMax";
    case Op::Min:
      return "ReduceMin";
    case Op::Prod:
      return "ReduceProd";
  }
  return "Reduce";
}

Shape Reduce::kept_shape(const Shape& x) const {
  Shape k = x;
  const int64_t n = static_cast<int64_t>(x.size());
  if (first_axis_ >= 0) {
    if (n <= first_axis_) throw Error(std::string(kind()) + ": expects (N, C, spatial...), got " + shape_str(x));
    for (int64_t i = first_axis_; i < n; ++i) k[i] = 1;
    return k;
  }
  if (axes_.empty()) {
    for (auto& d : k) d = 1;
    return k;
  }
  for (int64_t a : axes_) {
    const int64_t r = a < 0 ? a + n : a;
    if (r < 0 || r >= n)
      throw Error(std::string(kind()) + ": axis " + std::to_string(a) + " out of range for " + shape_str(x));
    k[r] = 1;
  }
  return k;
}

namespace {

// For each element of x (shape xs), the flat index of its group in the kept shape.
std::vector<int64_t> group_of(const Shape& xs, const Shape& kept) {
  const int64_t n = shape_numel(xs);
  std::vector<int64_t> g(n);
  const int nd = static_cast<int>(xs.size());
  std::vector<int64_t> coord(nd, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (int d = 0; d < nd; ++d) off = off * kept[d] + (kept[d] == 1 ? 0 : coord[d]);
    g[i] = off;
    for (int d = nd - 1; d >= 0; --d) {
      if (++coord[d] < xs[d]) break;
      coord[d] = 0;
    }
  }
  return g;
}

// y (kept shape) and, for Max / Min, the flat index in x of each group's first extreme element.
template <class T>
void reduce_typed(Reduce::Op op, const T* x, const std::vector<int64_t>& group, T* y, int64_t* arg, int64_t ny) {
  std::vector<bool> seen(ny, false);
  for (size_t i = 0; i < group.size(); ++i) {
    const int64_t k = group[i];
    const T v = x[i];
    if (!seen[k]) {
      seen[k] = true, y[k] = v, arg[k] = static_cast<int64_t>(i);
      continue;
    }
    switch (op) {
      case Reduce::Op::Sum:
        y[k] += v;
        break;
      case Reduce::Op::Prod:
        y[k] *= v;
        break;
      case Reduce::Op::Max:  // NaN wins, as in max pooling's comparison order
        if (v > y[k] || (v != v && y[k] == y[k])) y[k] = v, arg[k] = static_cast<int64_t>(i);
        break;
      case Reduce::Op::Min:
        if (v < y[k] || (v != v && y[k] == y[k])) y[k] = v, arg[k] = static_cast<int64_t>(i);
        break;
    }
  }
}

}  // namespace

// saved: "x", "y" (kept shape; the LRP sum rule divides by it), "arg" (I64, kept shape: the first extreme)
Tensors Reduce::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  const Tensor& t = x.at(0);
  if (!t.defined()) throw Error(std::string(kind()) + ": input is undefined");
  const Shape kept = kept_shape(t.shape());
  if (t.numel() == 0) throw Error(std::string(kind()) + ": empty input " + t.describe());
  const std::vector<int64_t> group = group_of(t.shape(), kept);
  Tensor y(kept, t.dtype()), arg(kept, DType::I64);
  if (t.dtype() == DType::F32)
    reduce_typed<float>(op_, t.data<float>(), group, y.data<float>(), arg.data<int64_t>(), y.numel());
  else if (t.dtype() == DType::F64)
    reduce_typed<double>(op_, t.data<double>(), group, y.data<double>(), arg.data<int64_t>(), y.numel());
  else
    reduce_typed<int64_t>(op_, t.data<int64_t>(), group, y.data<int64_t>(), arg.data<int64_t>(), y.numel());
  saved.put("x", t);
  saved.put("y", y);
  saved.put("arg", arg);
  if (keepdims_ || first_axis_ >= 0) return {y};
  Shape out;
  const int64_t n = t.ndim();
  std::vector<bool> reduced(n, axes_.empty());
  for (int64_t a : axes_) reduced[a < 0 ? a + n : a] = true;
  for (int64_t i = 0; i < n; ++i)
    if (!reduced[i]) out.push_back(t.dim(static_cast<int>(i)));
  return {y.reshape(out)};
}

Tensors Reduce::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  const Tensor& x = saved.tensor("x");
  if (!grad_y.at(0).defined() || !x.is_float()) return {Tensor()};
  const Shape kept = kept_shape(x.shape());
  const Tensor g = grad_y[0].reshape(kept);
  if (op_ == Op::Sum) return {ops::add(Tensor(x.shape(), x.dtype(), x.device()), g)};  // broadcast to x's shape
  Tensor gx(x.shape(), x.dtype());
  if (op_ == Op::Max || op_ == Op::Min) {  // to the first extreme of each group
    const Tensor& arg = saved.tensor("arg");
    for (int64_t k = 0, k_end = g.numel(); k < k_end; ++k) gx.set_item(arg.data<int64_t>()[k], g.item(k));
    return {gx};
  }
  // Prod: Π_{j≠i} x_j per group, from the number of zeros in it (no division by zero).
  const std::vector<int64_t> group = group_of(x.shape(), kept);
  std::vector<int64_t> zeros(g.numel(), 0);
  std::vector<double> nonzero_prod(g.numel(), 1.0);
  for (size_t i = 0; i < group.size(); ++i) {
    const double v = x.item(static_cast<int64_t>(i));
    if (v == 0)
      ++zeros[group[i]];
    else
      nonzero_prod[group[i]] *= v;
  }
  for (size_t i = 0; i < group.size(); ++i) {
    const int64_t k = group[i];
    const double v = x.item(static_cast<int64_t>(i));
    double others = 0;
    if (zeros[k] == 0)
      others = nonzero_prod[k] / v;
    else if (zeros[k] == 1 && v == 0)
      others = nonzero_prod[k];
    gx.set_item(static_cast<int64_t>(i), g.item(k) * others);
  }
  return {gx};
}

std::vector<std::string> Reduce::relevance_rules() const {
  if (op_ == Op::Sum) return {"norm"};
  if (op_ == Op::Max || op_ == Op::Min) return {"wta"};
  return {};
}

Tensors Reduce::relevance(const Tensors& relevance_y, const Saved& saved, const Rule& rule) {
  if (op_ == Op::Prod) return Layer::relevance(relevance_y, saved, rule);  // no rule: the one-line error
  if (!relevance_y.at(0).defined()) return {Tensor()};
  const Tensor& x = saved.tensor("x");
  const Shape kept = kept_shape(x.shape());
  if (op_ == Op::Sum) {  // R_i = x_i / stab(y) · R
    const Tensor s = ops::div(relevance_y[0].reshape(kept), ops::stabilize(saved.tensor("y"), rule.stabilizer));
    return {ops::mul(x, s)};
  }
  return backward(relevance_y, saved, {});  // winner takes all
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration sum_keep{{"Reduce/Sum-keepdims", [](Rng& rng) {
                                     return LayerExample{
                                         std::make_shared<Reduce>(Reduce::Op::Sum, std::vector<int64_t>{1}, true),
                                         {random_tensor({2, 3, 4}, rng)}};
                                   }}};
LayerExampleRegistration max_drop{{"Reduce/Max-drop-axes",
                                   [](Rng& rng) {
                                     return LayerExample{
                                         std::make_shared<Reduce>(Reduce::Op::Max, std::vector<int64_t>{0, -1}, false),
                                         {random_tensor({2, 3, 4}, rng)}};
                                   },
                                   true}};
LayerExampleRegistration min_all{{"Reduce/Min-all",
                                  [](Rng& rng) {
                                    return LayerExample{
                                        std::make_shared<Reduce>(Reduce::Op::Min, std::vector<int64_t>{}, true),
                                        {random_tensor({3, 4}, rng)}};
                                  },
                                  true}};
LayerExampleRegistration global_max{{"Reduce/GlobalMaxPool",
                                     [](Rng& rng) {
                                       return LayerExample{
                                           std::make_shared<Reduce>(Reduce::Op::Max, std::vector<int64_t>{}, true, 2),
                                           {random_tensor({2, 3, 2, 3}, rng)}};
                                     },
                                     true}};
LayerExampleRegistration prod{{"Reduce/Prod", [](Rng& rng) {
                                 return LayerExample{
                                     std::make_shared<Reduce>(Reduce::Op::Prod, std::vector<int64_t>{-1}, false),
                                     {random_tensor({2, 3, 4}, rng, 0.5, 1.5)}};
                               }}};
}  // namespace
}  // namespace xdnn
