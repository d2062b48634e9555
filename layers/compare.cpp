#include "layers/compare.h"

#include <cmath>

#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/ops_onnx.h"
#include "engine/shape_util.h"

namespace xdnn {

const char* Compare::kind() const {
  switch (op_) {
    case Op::Equal:
      return "Equal";
    case Op::Less:
      return "Less";
    case Op::Greater:
      return "Greater";
    case Op::LessOrEqual:
      return "LessOrEqual";
    case Op::GreaterOrEqual:
      return "GreaterOrEqual";
    case Op::And:
      return "And";
    case Op::Or:
      return "Or";
    case Op::Xor:
      return "Xor";
    case Op::Not:
      return "Not";
  }
  return "Compare";
}

namespace {

// Flat index into t (right-aligned against the broadcast shape ys) of the element at flat index `flat`.
int64_t broadcast_index(const Tensor& t, const Shape& ys, int64_t flat) {
  int64_t off = 0, stride = 1;
  for (int d = static_cast<int>(ys.size()) - 1, k = t.ndim() - 1; k >= 0; --d, --k) {
    const int64_t coord = flat % ys[d];
    flat /= ys[d];
    if (t.dim(k) != 1) off += coord * stride;
    stride *= t.dim(k);
  }
  return off;
}

}  // namespace

Tensors Compare::forward(const Tensors& x, Saved&, const ForwardOptions&) {
  const Tensor& a = x.at(0);
  if (!a.defined()) throw Error(std::string(kind()) + ": missing operand");
  if (op_ == Op::Not) {
    Tensor y(a.shape(), DType::I64);
    for (int64_t i = 0, i_end = a.numel(); i < i_end; ++i) y.data<int64_t>()[i] = a.item(i) == 0 ? 1 : 0;
    return {y};
  }
  const Tensor& b = x.at(1);
  if (!b.defined()) throw Error(std::string(kind()) + ": missing operand");
  const Shape ys = broadcast_shapes(a.shape(), b.shape());
  Tensor y(ys, DType::I64);
  int64_t* py = y.data<int64_t>();
  for (int64_t i = 0, i_end = y.numel(); i < i_end; ++i) {
    const double u = a.item(broadcast_index(a, ys, i)), v = b.item(broadcast_index(b, ys, i));
    bool r = false;
    switch (op_) {
      case Op::Equal:
        r = u == v;
        break;
      case Op::Less:
        r = u < v;
        break;
      case Op::Greater:
        r = u > v;
        break;
      case Op::LessOrEqual:
        r = u <= v;
        break;
      case Op::GreaterOrEqual:
        r = u >= v;
        break;
      case Op::And:
        r = u != 0 && v != 0;
        break;
      case Op::Or:
        r = u != 0 || v != 0;
        break;
      case Op::Xor:
        r = (u != 0) != (v != 0);
        break;
      case Op::Not:
        break;
    }
    py[i] = r ? 1 : 0;
  }
  return {y};
}

Tensors Compare::backward(const Tensors&, const Saved&, const BackwardOptions&) {
  return op_ == Op::Not ? Tensors{Tensor()} : Tensors{Tensor(), Tensor()};
}

// saved: "a", "b", "q" with q the float quotient (floor or trunc) per output element
Tensors Mod::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  const Tensor &a = x.at(0), &b = x.at(1);
  if (!a.defined() || !b.defined()) throw Error("Mod: missing operand");
  if (a.dtype() != b.dtype())
    throw Error("Mod: operands " + a.describe() + " and " + b.describe() + " differ in dtype");
  if (a.is_float()) {  // on the operands' device (engine/ops_onnx.h)
    const std::vector<Tensor> y_q = ops::mod(a, b, fmod_);
    saved.put("a", a);
    saved.put("b", b);
    saved.put("q", y_q[1]);
    return {y_q[0]};
  }
  // int64: the shape arithmetic of exported graphs (values decide shapes), on the host by design.
  const Shape ys = broadcast_shapes(a.shape(), b.shape());
  Tensor y(ys, a.dtype());
  const int64_t *pa = a.data<int64_t>(), *pb = b.data<int64_t>();
  int64_t* py = y.data<int64_t>();
  for (int64_t i = 0, i_end = y.numel(); i < i_end; ++i) {
    const int64_t u = pa[broadcast_index(a, ys, i)], v = pb[broadcast_index(b, ys, i)];
    if (v == 0) throw Error("Mod: integer division by zero");
    int64_t r = u % v;  // C++: the sign of the dividend (fmod)
    if (!fmod_ && r != 0 && ((r < 0) != (v < 0))) r += v;
    py[i] = r;
  }
  saved.put("a", a);
  saved.put("b", b);
  saved.put("q", Tensor());
  return {y};
}

Tensors Mod::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  const Tensor &a = saved.tensor("a"), &b = saved.tensor("b"), &q = saved.tensor("q");
  if (!grad_y.at(0).defined() || !a.is_float()) return {Tensor(), Tensor()};
  const Tensor& g = grad_y[0];
  const Tensor gb = ops::mul(ops::scale(g, -1.0), q);  // ∂y/∂b = −q
  return {ops::sum_to_shape(g, a.shape()), ops::sum_to_shape(gb, b.shape())};
}

Tensors Range::forward(const Tensors& x, Saved&, const ForwardOptions&) {
  for (int i = 0; i < 3; ++i)
    if (!x.at(i).defined() || x[i].numel() != 1)
      throw Error("Range: start, limit and delta must be scalars, got " +
                  (x.at(i).defined() ? x[i].describe() : std::string("nothing")) + " as input " + std::to_string(i));
  const DType dt = x[0].dtype();
  if (x[1].dtype() != dt || x[2].dtype() != dt)
    throw Error("Range: start, limit and delta differ in dtype: " + x[0].describe() + ", " + x[1].describe() + ", " +
                x[2].describe());
  // The length is shape data: three numbers read back to size the output; the values are made on the device.
  const double start = ops::value_vector(x[0])[0], limit = ops::value_vector(x[1])[0],
               delta = ops::value_vector(x[2])[0];
  if (delta == 0 || !std::isfinite(start) || !std::isfinite(limit) || !std::isfinite(delta))
    throw Error("Range: delta must be non-zero and start, limit, delta finite, got start " + std::to_string(start) +
                ", limit " + std::to_string(limit) + ", delta " + std::to_string(delta));
  const double count = std::max(std::ceil((limit - start) / delta), 0.0);
  // Checked before anything is allocated: at most 2^31 elements.
  if (count > 2147483648.0) throw Error("Range: " + std::to_string(count) + " elements is too many");
  // start + i · delta in the tensor's type (exactly for int64), as the ONNX reference computes it.
  return {ops::arange(x[0], x[2], static_cast<int64_t>(count))};
}

Tensors Range::backward(const Tensors&, const Saved&, const BackwardOptions&) { return {Tensor(), Tensor(), Tensor()}; }

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
// Away from the jumps of mod: a / b stays in (0.09, 0.43), (1.04, 1.48) or (-0.95, -0.57).
LayerExampleRegistration mod_example{
    {"Mod/float-floor", [](Rng& rng) {
       const Tensor r = random_tensor({2, 3}, rng, 0.2, 0.8);
       const Tensor a = ops::add(r, Tensor::from_vector({2, 3}, std::vector<double>{-2, 0, 2, -2, 0, 2}).to(r.dtype()));
       return LayerExample{std::make_shared<Mod>(false), {a, random_tensor({3}, rng, 1.9, 2.1)}};
     }}};
}  // namespace
}  // namespace xdnn
