// Convolution and batch-norm layers with random parameters, for the tests of BatchNorm folding and fused
// convolution epilogues: one definition, so both draw the same parameters from the same seed in the same order.
// And one sample of a batch, for the tests that a sample alone gives its batch's bits.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "engine/random.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/registry.h"

namespace xdnn::testing {

// Row n of a batch (N, ...), as a batch of one (1, ...).
inline Tensor sample_of(const Tensor& t, int64_t n) {
  Shape s = t.shape();
  s[0] = 1;
  Tensor out(s, t.dtype());
  const int64_t m = out.numel();
  for (int64_t i = 0; i < m; ++i) out.set_item(i, t.item(n * m + i));
  return out;
}

// A k x k Conv2d with its default initialisation (Conv2d::init) drawn from `rng`.
inline std::shared_ptr<Conv2d> random_conv2d(const std::string& name, int64_t C, int64_t O, int64_t k,
                                             const Conv2dOptions& options, Rng& rng) {
  auto conv = std::make_shared<Conv2d>(name, C, O, k, k, options);
  conv->init(rng);
  return conv;
}

// A BatchNorm2d in inference state whose scale, shift and running statistics are all far from the identity
// (scale in [0.5, 2], variance in [0.2, 3]), so folding or fusing it is really exercised; float32, drawn in that
// order from `rng`.
inline std::shared_ptr<BatchNorm2d> random_batchnorm2d(const std::string& name, int64_t C, Rng& rng) {
  auto bn = std::make_shared<BatchNorm2d>(name, C, 1e-3);
  bn->weight_param().value = random_tensor({C}, rng, 0.5, 2.0).to(DType::F32);
  bn->bias_param().value = random_tensor({C}, rng, -0.5, 0.5).to(DType::F32);
  bn->running_mean_param().value = random_tensor({C}, rng, -0.3, 0.3).to(DType::F32);
  bn->running_var_param().value = random_tensor({C}, rng, 0.2, 3.0).to(DType::F32);
  return bn;
}

}  // namespace xdnn::testing
