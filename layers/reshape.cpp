#include "layers/reshape.h"

#include <algorithm>

#include "engine/ops_fill.h"
#include "engine/shape_util.h"

namespace xdnn {

std::vector<int64_t> int_list(const Tensor& t, const char* what) {
  if (!t.defined()) throw Error(std::string(what) + ": missing");
  if (t.dtype() != DType::I64 || t.ndim() > 1)
    throw Error(std::string(what) + ": expected a 1-D int64 tensor, got " + t.describe());
  return ops::index_vector(t);  // a shape is host metadata: copied back from the tensor's device
}

const char* Reshape::kind() const {
  switch (kind_) {
    case Kind::Reshape:
      return "Reshape";
    case Kind::Flatten2D:
      return "Flatten2D";
    case Kind::Squeeze:
      return "Squeeze";
    case Kind::Unsqueeze:
      return "Unsqueeze";
  }
  return "Reshape";
}

static int64_t norm_axis(int64_t a, int64_t rank, const char* who, const Shape& x) {
  const int64_t r = a < 0 ? a + rank : a;
  if (r < 0 || r >= rank)
    throw Error(std::string(who) + ": axis " + std::to_string(a) + " is out of range for input " + shape_str(x));
  return r;
}

Shape Reshape::output_shape(const Shape& x, const std::vector<int64_t>& spec) const {
  const int64_t n = static_cast<int64_t>(x.size());
  switch (kind_) {
    case Kind::Reshape: {
      Shape y(spec.size());
      int infer = -1;
      for (size_t i = 0; i < spec.size(); ++i) {
        int64_t d = spec[i];
        if (d == 0 && !allowzero_) {
          if (static_cast<int64_t>(i) >= n)
            throw Error("Reshape: 0 at position " + std::to_string(i) + " but input " + shape_str(x) +
                        " has no such axis");
          d = x[i];
        }
        if (d == -1) {
          if (infer >= 0) throw Error("Reshape: more than one -1 in target shape");
          infer = static_cast<int>(i);
          continue;
        }
        if (d < 0) throw Error("Reshape: invalid target size " + std::to_string(d));
        y[i] = d;
      }
      // Checked before any division: 8 * (2^61 + 1) wraps to 8 in int64 and would pass the test below.
      Shape known_dims = y;
      if (infer >= 0) known_dims[infer] = 1;
      const int64_t known = checked_numel(known_dims, "Reshape target");
      const int64_t numel = shape_numel(x);
      if (infer >= 0) {
        if (known == 0 || numel % known != 0)
          throw Error("Reshape: cannot infer -1 reshaping " + shape_str(x) + " with target " + shape_str(Shape(spec)));
        y[infer] = numel / known;
      }
      if (shape_numel(y) != numel)
        throw Error("Reshape: cannot reshape " + shape_str(x) + " to " + shape_str(Shape(spec)));
      return y;
    }
    case Kind::Flatten2D: {
      int64_t a = spec.empty() ? 1 : spec[0];
      if (a < 0) a += n;
      if (a < 0 || a > n)
        throw Error("Flatten: axis " + std::to_string(spec[0]) + " does not fit input " + shape_str(x));
      int64_t outer = 1, inner = 1;
      for (int64_t i = 0; i < n; ++i) (i < a ? outer : inner) *= x[i];
      return {outer, inner};
    }
    case Kind::Squeeze: {
      std::vector<bool> drop(n, false);
      if (spec.empty()) {
        for (int64_t i = 0; i < n; ++i) drop[i] = x[i] == 1;
      } else {
        for (int64_t a : spec) {
          int64_t r = norm_axis(a, n, "Squeeze", x);
          if (x[r] != 1)
            throw Error("Squeeze: axis " + std::to_string(a) + " of input " + shape_str(x) + " does not have size 1");
          drop[r] = true;
        }
      }
      Shape y;
      for (int64_t i = 0; i < n; ++i)
        if (!drop[i]) y.push_back(x[i]);
      return y;
    }
    case Kind::Unsqueeze: {
      const int64_t out_rank = n + static_cast<int64_t>(spec.size());
      std::vector<bool> ins(out_rank, false);
      for (int64_t a : spec) {
        int64_t r = norm_axis(a, out_rank, "Unsqueeze", x);
        if (ins[r]) throw Error("Unsqueeze: axis " + std::to_string(a) + " listed twice");
        ins[r] = true;
      }
      Shape y;
      int64_t k = 0;
      for (int64_t i = 0; i < out_rank; ++i) y.push_back(ins[i] ? 1 : x[k++]);
      return y;
    }
  }
  return x;
}

// saved: "x" (shares storage; only its shape is used), and the number of "inputs" (one gradient each)
Tensors Reshape::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  if (!x.at(0).defined()) throw Error(std::string(kind()) + ": input is undefined");
  const bool runtime_spec = x.size() > 1 && x[1].defined();
  const std::vector<int64_t> spec = runtime_spec ? int_list(x[1], kind()) : spec_;
  saved.put("x", x[0]);
  saved.set_int("inputs", static_cast<int64_t>(x.size()));
  return {x[0].reshape(output_shape(x[0].shape(), spec))};
}

Tensors Reshape::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  Tensors gx(saved.get_int("inputs"));  // the spec input (if any) gets no gradient
  if (grad_y.at(0).defined()) gx[0] = grad_y[0].reshape(saved.tensor("x").shape());
  return gx;
}

Tensors Identity::forward(const Tensors& x, Saved&, const ForwardOptions&) { return {x.at(0)}; }
Tensors Identity::backward(const Tensors& grad_y, const Saved&, const BackwardOptions&) { return {grad_y.at(0)}; }
}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
LayerExampleRegistration reshape_spec{
    {"Reshape/zero-and-infer", [](Rng& rng) {
       return LayerExample{std::make_shared<Reshape>(Reshape::Kind::Reshape, std::vector<int64_t>{0, -1, 2}),
                           {random_tensor({2, 3, 4}, rng)}};
     }}};
LayerExampleRegistration reshape_runtime{
    {"Reshape/runtime-shape", [](Rng& rng) {
       return LayerExample{std::make_shared<Reshape>(Reshape::Kind::Reshape, std::vector<int64_t>{}),
                           {random_tensor({2, 6}, rng), Tensor::from_vector({3}, std::vector<int64_t>{2, 3, 2})}};
     }}};
LayerExampleRegistration flatten2d{{"Flatten2D/axis2", [](Rng& rng) {
                                      return LayerExample{
                                          std::make_shared<Reshape>(Reshape::Kind::Flatten2D, std::vector<int64_t>{2}),
                                          {random_tensor({2, 3, 2, 2}, rng)}};
                                    }}};
LayerExampleRegistration squeeze{{"Squeeze/axes", [](Rng& rng) {
                                    return LayerExample{
                                        std::make_shared<Reshape>(Reshape::Kind::Squeeze, std::vector<int64_t>{1, -1}),
                                        {random_tensor({2, 1, 3, 1}, rng)}};
                                  }}};
LayerExampleRegistration unsqueeze{
    {"Unsqueeze/axes", [](Rng& rng) {
       return LayerExample{std::make_shared<Reshape>(Reshape::Kind::Unsqueeze, std::vector<int64_t>{0, -1}),
                           {random_tensor({2, 3}, rng)}};
     }}};
LayerExampleRegistration identity{{"Identity", [](Rng& rng) {
                                     return LayerExample{std::make_shared<Identity>(), {random_tensor({2, 3}, rng)}};
                                   }}};
}  // namespace
}  // namespace xdnn
