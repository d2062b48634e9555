// The training speed paths (issue #2) against the plain definitions they replace, bit for bit:
//   - the conv bias gradient (several per-sample sums side by side) against one chain per sample.
#include <doctest/doctest.h>

#include <cstring>

#include "engine/ops.h"
#include "engine/parallel.h"
#include "layers/registry.h"

using namespace xdnn;

namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ac = a.clone(), bc = b.clone();
  return std::memcmp(ac.raw_data(), bc.raw_data(), static_cast<size_t>(ac.numel()) * dtype_size(ac.dtype())) == 0;
}

}  // namespace

TEST_CASE("conv2d bias gradient: each per-sample sum in position order, samples added in order") {
  Rng rng(24);
  for (int64_t N : {1, 7, 8, 21}) {
    CAPTURE(N);
    for (DType dt : {DType::F32, DType::F64}) {
      const Tensor gy = random_tensor({N, 5, 3, 7}, rng).to(dt);
      const int64_t O = 5, P = 21;
      Tensor per_ref({N, O}, DType::F64), total_ref({O}, DType::F64);
      for (int64_t o = 0; o < O; ++o) {
        // The definition, in the tensor's own precision: one chain per (sample, channel).
        double total_d = 0;
        float total_f = 0;
        for (int64_t n = 0; n < N; ++n) {
          double sd = 0;
          float sf = 0;
          for (int64_t p = 0; p < P; ++p) {
            sd += gy.item((n * O + o) * P + p);
            sf += static_cast<float>(gy.item((n * O + o) * P + p));
          }
          per_ref.set_item(n * O + o, dt == DType::F64 ? sd : sf);
          total_d += sd;
          total_f += sf;
        }
        total_ref.set_item(o, dt == DType::F64 ? total_d : total_f);
      }
      const int saved_threads = num_threads();
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        CHECK(same_bits(ops::conv2d_backward_bias(gy, true), per_ref.to(dt)));
        CHECK(same_bits(ops::conv2d_backward_bias(gy, false), total_ref.to(dt)));
      }
      set_num_threads(saved_threads);
    }
  }
}
