#include "layers/elementwise.h"

namespace xdnn {

using ops::Pointwise;

const char* Elementwise::kind() const {
  switch (f_) {
    case Pointwise::Exp:
      return "Exp";
    case Pointwise::Log:
      return "Log";
    case Pointwise::Sqrt:
      return "Sqrt";
    case Pointwise::Abs:
      return "Abs";
    case Pointwise::Neg:
      return "Neg";
    case Pointwise::Reciprocal:
      return "Reciprocal";
    case Pointwise::Elu:
      return "Elu";
    case Pointwise::Selu:
      return "Selu";
    case Pointwise::Softplus:
      return "Softplus";
    case Pointwise::Softsign:
      return "Softsign";
    case Pointwise::PowScalar:
      return "Pow";
    case Pointwise::Sigmoid:
      return "Sigmoid";
    case Pointwise::Tanh:
      return "Tanh";
    case Pointwise::Scale:
      return "Scale";
    case Pointwise::Clip:
      return "Clip";
    case Pointwise::HardSigmoid:
      return "HardSigmoid";
    case Pointwise::HardSwish:
      return "HardSwish";
    case Pointwise::Mish:
      return "Mish";
  }
  return "Elementwise";
}

bool Elementwise::is_activation() const {
  return f_ == Pointwise::Elu || f_ == Pointwise::Selu || f_ == Pointwise::Softplus || f_ == Pointwise::Softsign ||
         f_ == Pointwise::Sigmoid || f_ == Pointwise::Tanh || f_ == Pointwise::Clip || f_ == Pointwise::HardSigmoid ||
         f_ == Pointwise::HardSwish || f_ == Pointwise::Mish;
}

// saved: "x", "y" (derivatives are written in either)
Tensors Elementwise::forward(const Tensors& x, Saved& saved, const ForwardOptions&) {
  ops::expect_float(x.at(0), kind());
  Tensor y = ops::pointwise(f_, x[0], a_, b_);
  saved.put("x", x[0]);
  saved.put("y", y);
  return {y};
}

Tensors Elementwise::backward(const Tensors& grad_y, const Saved& saved, const BackwardOptions&) {
  if (!grad_y.at(0).defined()) return {Tensor()};
  return {ops::pointwise_backward(f_, saved.tensor("x"), saved.tensor("y"), grad_y[0], a_, b_)};
}

Tensors Elementwise::relevance(const Tensors& relevance_y, const Saved&, const Rule&) {
  if (!is_activation()) throw Error(std::string(kind()) + ": no LRP rule for this function");
  return {relevance_y.at(0)};
}

std::vector<std::string> Elementwise::relevance_rules() const {
  if (is_activation()) return {"pass"};
  return {};
}

}  // namespace xdnn

#include "layers/registry.h"

namespace xdnn {
namespace {
struct Fn {
  const char* name;
  Pointwise f;
  double a, b, lo, hi;
  bool kinks;
};
// Inputs kept where the function is smooth and defined (Log, Sqrt, Pow on positive inputs).
const Fn kFns[] = {
    {"Exp", Pointwise::Exp, 0, 0, -1, 1, false},
    {"Log", Pointwise::Log, 0, 0, 0.5, 2, false},
    {"Sqrt", Pointwise::Sqrt, 0, 0, 0.5, 2, false},
    {"Abs", Pointwise::Abs, 0, 0, -1, 1, true},
    {"Neg", Pointwise::Neg, 0, 0, -1, 1, false},
    {"Reciprocal", Pointwise::Reciprocal, 0, 0, 0.5, 2, false},
    {"Elu", Pointwise::Elu, 0.7, 0, -1, 1, true},
    {"Selu", Pointwise::Selu, 1.67, 1.05, -1, 1, true},
    {"Softplus", Pointwise::Softplus, 0, 0, -3, 3, false},
    {"Softsign", Pointwise::Softsign, 0, 0, -1, 1, true},
    {"Pow", Pointwise::PowScalar, 2.5, 0, 0.5, 2, false},
    {"Sigmoid", Pointwise::Sigmoid, 0, 0, -3, 3, false},
    {"Tanh", Pointwise::Tanh, 0, 0, -2, 2, false},
    {"Scale", Pointwise::Scale, -1.5, 0, -1, 1, false},
    {"Clip", Pointwise::Clip, -0.5, 0.6, -1, 1, true},
    {"ReLU6", Pointwise::Clip, 0, 6, -3, 9, true},
    {"HardSigmoid", Pointwise::HardSigmoid, 0.2, 0.5, -4, 4, true},
    {"HardSwish", Pointwise::HardSwish, 0, 0, -4, 4, true},
    {"Mish", Pointwise::Mish, 0, 0, -3, 3, false},
};
struct RegisterAll {
  RegisterAll() {
    for (const Fn& fn : kFns)
      register_layer_example({std::string("Elementwise/") + fn.name,
                              [fn](Rng& rng) {
                                return LayerExample{std::make_shared<Elementwise>(fn.f, fn.a, fn.b),
                                                    {random_tensor({3, 4}, rng, fn.lo, fn.hi)}};
                              },
                              fn.kinks});
  }
} register_all;
}  // namespace
}  // namespace xdnn
