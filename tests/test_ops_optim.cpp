// engine/ops_optim.h: the SGD and Adam steps against their formulas written out per element in double
// (float64 parameters: the same numbers), and the CUDA kernel bodies of kernels/optim_body.h run on the
// host against the CPU op bit for bit (float32 and float64); mismatched operands are refused.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/ops_optim.h"
#include "kernels/optim_body.h"

using namespace xdnn;
using cuda::run_on_host;

namespace {

Tensor uniform(const Shape& s, Rng& rng, DType dt) {
  Tensor t(s, dt);
  ops::fill_uniform_inplace(t, -1.0, 1.0, rng);
  return t;
}

}  // namespace

TEST_CASE("optim ops: SGD (momentum, nesterov, weight decay) and Adam match their formulas") {
  Rng rng(2);
  const Tensor theta0 = uniform({7}, rng, DType::F64), grad = uniform({7}, rng, DType::F64);
  const Tensor b0 = uniform({7}, rng, DType::F64);
  for (bool nesterov : {false, true}) {
    Tensor theta = theta0.clone(), buf = b0.clone();
    ops::sgd_step_inplace(theta, grad, buf, {0.1, 0.9, 0.01, nesterov, false});
    for (int64_t i = 0; i < 7; ++i) {
      const double g = grad.item(i) + 0.01 * theta0.item(i), b = 0.9 * b0.item(i) + g;
      CHECK(buf.item(i) == doctest::Approx(b).epsilon(1e-15));
      CHECK(theta.item(i) == doctest::Approx(theta0.item(i) - 0.1 * (nesterov ? g + 0.9 * b : b)).epsilon(1e-15));
    }
  }
  Tensor theta = theta0.clone(), none;
  ops::sgd_step_inplace(theta, grad, none, {0.1, 0.0, 0.0, false, true});
  for (int64_t i = 0; i < 7; ++i) CHECK(theta.item(i) == doctest::Approx(theta0.item(i) - 0.1 * grad.item(i)));
  Tensor m = uniform({7}, rng, DType::F64), v = ops::unary(ops::Unary::Abs, uniform({7}, rng, DType::F64));
  const Tensor m0 = m.clone(), v0 = v.clone();
  theta = theta0.clone();
  ops::adam_step_inplace(theta, grad, m, v, {0.01, 0.9, 0.999, 1e-8, 0.0, 3});
  for (int64_t i = 0; i < 7; ++i) {
    const double g = grad.item(i), mi = 0.9 * m0.item(i) + 0.1 * g, vi = 0.999 * v0.item(i) + 0.001 * g * g;
    const double step = 0.01 / (1 - std::pow(0.9, 3)), denom = std::sqrt(vi) / std::sqrt(1 - std::pow(0.999, 3)) + 1e-8;
    CHECK(theta.item(i) == doctest::Approx(theta0.item(i) - step * mi / denom).epsilon(1e-14));
  }
  Tensor short_grad({6}, DType::F64);
  CHECK_THROWS_WITH(ops::sgd_step_inplace(theta, short_grad, none, {}),
                    doctest::Contains("sgd step gradient: expected"));
  CHECK_THROWS_WITH(ops::adam_step_inplace(theta, grad, m, v, {0.01, 0.9, 0.999, 1e-8, 0.0, 0}),
                    doctest::Contains("step number must be >= 1"));
}

TEST_CASE("optim ops: the CUDA kernel bodies on the host equal the CPU op bit for bit") {
  Rng rng(6);
  for (DType dt : {DType::F32, DType::F64}) {
    const Tensor theta0 = uniform({33}, rng, dt), grad = uniform({33}, rng, dt), b0 = uniform({33}, rng, dt);
    const Tensor m0 = uniform({33}, rng, dt), v0 = ops::unary(ops::Unary::Abs, uniform({33}, rng, dt));
    for (bool first : {false, true}) {
      const ops::SgdStep s{0.05, 0.9, 1e-3, !first, first};
      Tensor t1 = theta0.clone(), t2 = theta0.clone(), bb1 = b0.clone(), bb2 = b0.clone();
      ops::sgd_step_inplace(t1, grad, bb1, s);
      if (dt == DType::F32)
        run_on_host(33, cuda::SgdStepBody<float>{t2.data<float>(), grad.data<float>(), bb2.data<float>(), 0.05f,
                                                 static_cast<float>(1e-3), 0.9f, true, s.nesterov, first});
      else
        run_on_host(33, cuda::SgdStepBody<double>{t2.data<double>(), grad.data<double>(), bb2.data<double>(), 0.05,
                                                  1e-3, 0.9, true, s.nesterov, first});
      CHECK(bitwise_equal(t1, t2));
      CHECK(bitwise_equal(bb1, bb2));
    }
    const ops::AdamStep a{1e-3, 0.9, 0.999, 1e-8, 1e-2, 5};
    Tensor t1 = theta0.clone(), t2 = theta0.clone(), m1 = m0.clone(), m2 = m0.clone(), v1 = v0.clone(), v2 = v0.clone();
    ops::adam_step_inplace(t1, grad, m1, v1, a);
    const double bc1 = 1.0 - std::pow(0.9, 5.0), bc2 = 1.0 - std::pow(0.999, 5.0);
    if (dt == DType::F32)
      run_on_host(33, cuda::AdamStepBody<float>{
                          t2.data<float>(), grad.data<float>(), m2.data<float>(), v2.data<float>(),
                          static_cast<float>(1e-3 / bc1), static_cast<float>(std::sqrt(bc2)), 0.9f, 0.999f,
                          static_cast<float>(1.0 - 0.9), static_cast<float>(1.0 - 0.999), 1e-8f, 1e-2f, true});
    else
      run_on_host(33, cuda::AdamStepBody<double>{t2.data<double>(), grad.data<double>(), m2.data<double>(),
                                                 v2.data<double>(), 1e-3 / bc1, std::sqrt(bc2), 0.9, 0.999, 1.0 - 0.9,
                                                 1.0 - 0.999, 1e-8, 1e-2, true});
    CHECK(bitwise_equal(t1, t2));
    CHECK(bitwise_equal(m1, m2));
    CHECK(bitwise_equal(v1, v2));
  }
}
