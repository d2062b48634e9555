#include "layers/binary.h"
#include <cstdint>

namespace xdnn {

const char* Binary::kind() const {
  switch (op_) {
    case ops::Binary::Add:
      return "AddScalar";
    case ops::Binary::Sub:
      return "Sub";
    case ops::Binary::Mul:
      return "Mul";
    case ops::Binary::Div:
      return "Div";
    case ops::Binary::Max:
      return "Max";
    case ops::Binary::Min:
      return "Min";
  }
  return "Binary";
}

// int64 element-wise arithmetic with broadcasting (tiny shape tensors: plain loops).
static Tensor int_binary(ops::Binary op, const Tensor& a, const Tensor& b) {
  const Shape ys = broadcast_shapes(a.shape(), b.shape());
  Tensor y(ys, DType::I64);
  const int n = static_cast<int>(ys.size());
  auto index_in = [&](const Tensor& t, int64_t flat) {
    int64_t off = 0, stride = 1;
    for (int d = n - 1, k = t.ndim() - 1; k >= 0; --d, --k) {
      const int64_t coord = (flat % ys[d]);
      flat /= ys[d];
      if (t.dim(k) != 1) off += coord * stride;
      stride *= t.dim(k);
    }
    return off;
  };
  const int64_t *pa = a.data<int64_t>(), *pb = b.data<int64_t>();
  int64_t* py = y.data<int64_t>();
  // int64 arithmetic (shape computations) that overflows is an error, not undefined behaviour (found by
  // fuzz_onnx: a Mul of two 5e16 values).
  auto overflow = [&](int64_t u, int64_t v) {
    const char* names[] = {"Add", "Sub", "Mul", "Div", "Max", "Min"};
    const auto k = static_cast<size_t>(op);
    return Error(std::string("int64 ") + (k < 6 ? names[k] : "arithmetic") + " overflows: " + std::to_string(u) +
                 " and " + std::to_string(v));
  };
  for (int64_t i = 0, i_end = y.numel(); i < i_end; ++i) {
    const int64_t u = pa[index_in(a, i)], v = pb[index_in(b, i)];
    switch (op) {
      case ops::Binary::Add:
        if (__builtin_add_overflow(u, v, &py[i])) throw overflow(u, v);
        break;
      case ops::Binary::Sub:
        if (__builtin_sub_overflow(u, v, &py[i])) throw overflow(u, v);
        break;
      case ops::Binary::Mul:
        if (__builtin_mul_overflow(u, v, &py[i])) throw overflow(u, v);
        break;
      case ops::Binary::Div:
        if (v == 0) throw Error("integer division by zero");
        if (u == INT64_MIN && v == -1) throw overflow(u, v);
        py[i] = u / v;
        break;
      case ops::Binary::Max:
        py[i] = std::max(u, v);
        break;
      case ops::Binary::Min:
        py[i] = std::min(u, v);
        break;
    }
  }
  return y;
}

Tensor Binary::align(const Tensor& a, const Tensor& b) const {
  if (legacy_axis_ < 0) return b;
  const int64_t extra = a.ndim() - legacy_axis_ - b.ndim();
  if (extra < 0)
    throw Error(std::string(kind()) + ": operand " + b.describe() + " does not fit at axis " +
                std::to_string(legacy_axis_) + " of " + a.describe());
  Shape s = b.shape();
  s.insert(s.end(), extra, 1);
  return b.reshape(s);
}

// saved: "a", "b" (aligned for a legacy axis broadcast), and for float operands "b_given": b as given, whose
// shape its gradient takes
Tensors Binary::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  const Tensor& a = x.at(0);
  if (!a.defined() || !x.at(1).defined()) throw Error(std::string(kind()) + ": missing operand");
  const Tensor b = align(a, x[1]);
  if (a.dtype() == DType::I64 && b.dtype() == DType::I64) {
    saved.put("a", a);
    saved.put("b", b);
    return {int_binary(op_, a, b)};
  }
  if (a.dtype() != b.dtype())
    throw Error(std::string(kind()) + ": operands " + a.describe() + " and " + b.describe() + " differ in dtype");
  saved.put("a", a);
  saved.put("b", b);
  saved.put("b_given", x[1]);
  return {ops::binary(op_, a, b)};
}

Tensors Binary::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  const Tensor &a = saved.tensor("a"), &b = saved.tensor("b"), &g = grad_y.at(0);
  if (!g.defined() || !a.is_float()) return {Tensor(), Tensor()};
  Tensor ga, gb;
  switch (op_) {
    case ops::Binary::Add:
      ga = g, gb = g;
      break;
    case ops::Binary::Sub:
      ga = g, gb = ops::scale(g, -1.0);
      break;
    case ops::Binary::Mul:
      ga = ops::mul(g, b), gb = ops::mul(g, a);
      break;
    case ops::Binary::Div: {
      ga = ops::div(g, b);
      gb = ops::scale(ops::div(ops::mul(ga, a), b), -1.0);  // −g·a/b²
      break;
    }
    default:
      throw Error(std::string(kind()) + ": backward not implemented");
  }
  // b's gradient in b's aligned shape has the same elements as in its original shape.
  return {ops::sum_to_shape(ga, a.shape()), ops::sum_to_shape(gb, b.shape()).reshape(saved.tensor("b_given").shape())};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration sub_bcast{{"Binary/Sub-broadcast", [](Rng& rng) {
                                      return LayerExample{std::make_shared<Binary>(ops::Binary::Sub),
                                                          {random_tensor({2, 3, 4}, rng), random_tensor({3, 1}, rng)}};
                                    }}};
LayerExampleRegistration mul_bcast{{"Binary/Mul-broadcast", [](Rng& rng) {
                                      return LayerExample{std::make_shared<Binary>(ops::Binary::Mul),
                                                          {random_tensor({4}, rng), random_tensor({2, 3, 4}, rng)}};
                                    }}};
LayerExampleRegistration legacy_axis{{"Binary/Add-legacy-axis1", [](Rng& rng) {
                                        return LayerExample{std::make_shared<Binary>(ops::Binary::Add, 1),
                                                            {random_tensor({2, 3, 4}, rng), random_tensor({3}, rng)}};
                                      }}};
LayerExampleRegistration div_bcast{{"Binary/Div-broadcast", [](Rng& rng) {
                                      return LayerExample{
                                          std::make_shared<Binary>(ops::Binary::Div),
                                          {random_tensor({2, 3}, rng), random_tensor({2, 1}, rng, 0.5, 2.0)}};
                                    }}};
}  // namespace
std::vector<std::string> Binary::relevance_rules() const {
  if (op_ == ops::Binary::Sub || op_ == ops::Binary::Mul || op_ == ops::Binary::Div) return {"epsilon"};
  return {};
}

Tensors Binary::relevance(const Tensors& ry, const Saved& saved, const Rule& rule) {
  if (rule.name != "epsilon" || relevance_rules().empty())
    return Layer::relevance(ry, saved, rule);  // the one-line error naming what this kind has
  const Tensor &a = saved.tensor("a"), &b = saved.tensor("b"), &R = ry.at(0);
  if (!R.defined() || !a.is_float()) return {Tensor(), Tensor()};
  const Tensor y = ops::binary(op_, a, b);
  const Tensor ys = ops::mul(y, ops::div(R, ops::stabilize(y, rule.epsilon)));  // y ⊙ s: R up to ε
  Tensor ra, rb;
  if (op_ == ops::Binary::Sub) {
    const Tensor s = ops::div(R, ops::stabilize(y, rule.epsilon));
    ra = ops::mul(a, s);
    rb = ops::scale(ops::mul(b, s), -1.0);
  } else if (constant_operand_ == 0) {
    rb = ys;
  } else if (constant_operand_ == 1 || op_ == ops::Binary::Div) {
    ra = ys;
  } else {  // Mul of two activations
    ra = ops::scale(ys, 0.5);
    rb = ra;
  }
  if (constant_operand_ == 0) ra = Tensor();
  if (constant_operand_ == 1) rb = Tensor();
  return {ra.defined() ? ops::sum_to_shape(ra, a.shape()) : Tensor(),
          rb.defined() ? ops::sum_to_shape(rb, b.shape()).reshape(saved.tensor("b_given").shape()) : Tensor()};
}

}  // namespace xdnn
