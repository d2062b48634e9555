// The factored influence ops on the GPU (CPU twins: engine/cpu/influence.cpp; bodies: kernels/influence_body.h):
// a Gram block's two products by cuBLAS, then one fused element-wise pass into S; the factor norms one thread
// per row. The whole block at once (no test-row blocking as on the CPU: the (nj, ni) products are small next to
// the device's memory).
#include "engine/dispatch.h"
#include "kernels/cuda_backend.h"
#include "kernels/cuda_ops_influence.h"
#include "kernels/influence_body.h"

namespace xdnn::cuda {

void factored_gram_accumulate_into(Tensor& S, int64_t col0, const Tensor& test_delta, const Tensor& test_act,
                                   const Tensor& train_delta, const Tensor& train_act, double one, double w, bool add,
                                   const Tensor& test_norm, const Tensor& train_norm) {
  const char* what = "factored_gram_accumulate_into";
  const Tensor& out = S;
  for (const Tensor* t : {&out, &test_delta, &test_act, &train_delta, &train_act}) expect_cuda(*t, what);
  const int64_t nj = S.dim(0), ni = train_delta.dim(0);
  if (nj == 0 || ni == 0) return;
  Tensor d = Tensor::empty({nj, ni}, S.dtype(), Device::CUDA), a = Tensor::empty({nj, ni}, S.dtype(), Device::CUDA);
  matmul_into(test_delta, train_delta, d, false, true, 1.0, 0.0);
  matmul_into(test_act, train_act, a, false, true, 1.0, 0.0);
  const bool cosine = test_norm.defined();
  if (cosine) {
    expect_cuda(test_norm, what);
    expect_cuda(train_norm, what);
  }
  dispatch_float(S.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(nj * ni,
               FactoredFoldBody<T>{S.device_data<T>(), S.dim(1), col0, ni, d.device_data<T>(), a.device_data<T>(),
                                   cosine ? test_norm.device_data<T>() : nullptr,
                                   cosine ? train_norm.device_data<T>() : nullptr, static_cast<T>(one),
                                   static_cast<T>(w), add},
               what);
    return 0;
  });
}

Tensor factor_norms(const Tensor& delta, const Tensor& act, double one, bool squared) {
  expect_cuda(delta, "factor_norms");
  expect_cuda(act, "factor_norms");
  Tensor out = Tensor::empty({delta.dim(0)}, delta.dtype(), Device::CUDA);
  dispatch_float(delta.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(delta.dim(0),
               FactorNormsBody<T>{delta.device_data<T>(), act.device_data<T>(), out.device_data<T>(), delta.dim(1),
                                  act.dim(1), static_cast<T>(one), squared},
               "factor_norms");
    return 0;
  });
  return out;
}

void axpy_columns_into(Tensor& y, int64_t col0, double a, const Tensor& x, bool accumulate) {
  expect_cuda(y, "axpy_columns_into");
  expect_cuda(x, "axpy_columns_into");
  dispatch_float(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(),
               AxpyColumnsBody<T>{y.device_data<T>(), x.device_data<T>(), y.dim(1), col0, x.dim(1), static_cast<T>(a),
                                  accumulate},
               "axpy_columns_into");
    return 0;
  });
}

}  // namespace xdnn::cuda
