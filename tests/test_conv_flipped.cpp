// The input gradient of stride-1 convolutions run as a forward convolution of gy with the flipped weights
// read in place through an offset table (engine/cpu/conv_flipped.h), and the GEMM's offset-table A behind
// it (gemm_packed_b's a_offsets):
//   - the GEMM through a permuted offset table gives the bits of the same matrix stored row-major, both
//     kernels, serial and parallel, float32 and float64;
//   - conv2d_backward_input on the route (odd planes, dilation, asymmetric padding up to the kernel's
//     reach, no padding, 2x2 planes with a padded last panel, batch 0 and 1) against the float64
//     definition, float32 to rounding, float64 finite differences, 1-3 threads bit for bit, a sample alone
//     bit for bit against its batch;
//   - the flipped weights handed over (a frozen Conv2d, Layer::freeze): their definition, the same bits as
//     through the table on every route (full GEMM, border classes by class and by row blocks), float32 and
//     float64, 1 and 2 threads; a frozen layer gives its unfrozen bits and drops them when params() may
//     change the weights; flipped weights that do not fit are an error.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "engine/cpu/conv_routes.h"
#include "engine/cpu/gemm.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "layers/conv2d.h"
#include "layers/registry.h"
#include "tests/gradcheck.h"
#include "tests/thread_count.h"

using namespace xdnn;
using testing::max_rel_diff;

namespace {

// A stored K x N matrix (row stride ldb) as a cpu::BPacker.
template <class T>
struct StoredB {
  const T* b;
  int64_t ldb;
  static void fill(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t ncols, int64_t nr, T* dst) {
    const StoredB& s = *static_cast<const StoredB*>(ctx);
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t c = 0; c < nr; ++c) dst[k * nr + c] = c < ncols ? s.b[(k0 + k) * s.ldb + j0 + c] : T(0);
  }
};

template <class T>
void check_offset_table_gemm(bool parallel) {
  Rng rng(31);
  const int64_t M = 37, N = 70, K = 300;  // partial row and column panels, two k-blocks
  const int64_t lda = K + 5;              // table entries span [0, K + 5)
  std::vector<int64_t> off(K);
  for (int64_t k = 0; k < K; ++k) off[k] = (k * 7 + 3) % (K + 5);  // distinct, out of order
  const Tensor a_store = random_tensor({M, lda}, rng), b_t = random_tensor({K, N}, rng);
  const DType dt = std::is_same_v<T, float> ? DType::F32 : DType::F64;
  const Tensor a_in_place = a_store.to(dt), b = b_t.to(dt);
  Tensor a_rows({M, K}, dt);  // the same matrix stored row-major
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) a_rows.data<T>()[m * K + k] = a_in_place.data<T>()[m * lda + off[k]];
  const StoredB<T> sb{b.data<T>(), N};
  const cpu::BPacker<T> packer{&StoredB<T>::fill, &sb};
  Tensor want({M, N}, dt), got({M, N}, dt);
  cpu::gemm_packed_b<T>(parallel, M, N, K, a_rows.data<T>(), K, packer, want.data<T>(), N);
  cpu::gemm_packed_b<T>(parallel, M, N, K, a_in_place.data<T>(), lda, packer, got.data<T>(), N, off.data());
  CHECK(bitwise_equal(got, want));
  double s = 0;  // and the product itself (float64 sum of row 5 x column 9)
  for (int64_t k = 0; k < K; ++k) s += a_rows.item(5 * K + k) * b.item(k * N + 9);
  CHECK(std::abs(got.item(5 * N + 9) - s) < 1e-3);
}

struct Case {
  int64_t N, C, H, W, O, KH, KW, dil, pt, pb, pl, pr;
};

ops::Conv2dGeometry geometry(const Case& c) {
  ops::Conv2dGeometry g;
  g.dilation_h = g.dilation_w = c.dil;
  g.pad_top = c.pt, g.pad_bottom = c.pb, g.pad_left = c.pl, g.pad_right = c.pr;
  return g;
}

// gx of <gy, conv(x, w)> from the definition, float64.
Tensor naive_backward_input(const Tensor& gy, const Tensor& w, const Case& c, const ops::Conv2dGeometry& g) {
  const int64_t OH = gy.dim(2), OW = gy.dim(3);
  Tensor gx({c.N, c.C, c.H, c.W}, DType::F64);
  for (int64_t n = 0; n < c.N; ++n)
    for (int64_t o = 0; o < c.O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow)
          for (int64_t ci = 0; ci < c.C; ++ci)
            for (int64_t i = 0; i < c.KH; ++i)
              for (int64_t j = 0; j < c.KW; ++j) {
                const int64_t ih = oh - g.pad_top + i * c.dil, iw = ow - g.pad_left + j * c.dil;
                if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
                const int64_t xi = ((n * c.C + ci) * c.H + ih) * c.W + iw;
                gx.set_item(xi, gx.item(xi) + w.item(((o * c.C + ci) * c.KH + i) * c.KW + j) *
                                                  gy.item(((n * c.O + o) * OH + oh) * OW + ow));
              }
  return gx;
}

Tensor sample(const Tensor& t, int64_t n) {
  Shape s = t.shape();
  s[0] = 1;
  Tensor out(s, t.dtype());
  for (int64_t i = 0; i < out.numel(); ++i) out.set_item(i, t.item(n * out.numel() + i));
  return out;
}

}  // namespace

TEST_CASE("gemm_packed_b, A read through an offset table: the bits of the matrix stored row-major") {
  const cpu::GemmKernel saved = cpu::gemm_kernel();
  for (cpu::GemmKernel kernel : {cpu::GemmKernel::Vec256, cpu::GemmKernel::Vec512}) {
    if (!cpu::gemm_kernel_available(kernel)) {
      MESSAGE(cpu::gemm_kernel_name(kernel) << " not available here: not run");
      continue;
    }
    cpu::set_gemm_kernel(kernel);
    for (bool parallel : {false, true}) {
      check_offset_table_gemm<float>(parallel);
      check_offset_table_gemm<double>(parallel);
    }
  }
  cpu::set_gemm_kernel(saved);
}

TEST_CASE("conv2d_backward_input, stride-1 flipped route: definition, finite differences, threads, batch") {
  testing::RestoreThreadCount restore;
  Rng rng(32);
  for (const Case& c : {
           Case{3, 32, 5, 7, 5, 3, 3, 1, 1, 1, 1, 1},  // odd plane, 'same' padding
           Case{2, 33, 6, 5, 4, 3, 2, 2, 4, 0, 1, 2},  // dilation 2, asymmetric padding up to the reach
           Case{2, 40, 4, 4, 3, 2, 2, 1, 0, 0, 0, 0},  // no padding: the flipped forward pads by 1
           Case{5, 32, 2, 2, 6, 3, 3, 1, 1, 1, 1, 1},  // layer4-like 2x2 planes: 20 columns, a padded panel
           Case{1, 36, 3, 9, 2, 1, 3, 1, 0, 0, 2, 1},  // batch 1, a 1x3 kernel
           Case{0, 32, 4, 4, 3, 3, 3, 1, 1, 1, 1, 1},  // batch 0
       }) {
    CAPTURE(c.C);
    CAPTURE(c.N);
    const ops::Conv2dGeometry g = geometry(c);
    const Tensor x = random_tensor({c.N, c.C, c.H, c.W}, rng), w = random_tensor({c.O, c.C, c.KH, c.KW}, rng);
    const Shape ys = ops::conv2d_output_shape(x.shape(), w.shape(), g);
    const Tensor gy = random_tensor(ys, rng);
    const Tensor ref = naive_backward_input(gy, w, c, g);
    CHECK(max_rel_diff(ops::conv2d_backward_input(gy, w, x.shape(), g), ref) < 1e-12);
    const Tensor gyf = gy.to(DType::F32), wf = w.to(DType::F32);
    std::vector<Tensor> runs;
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      runs.push_back(ops::conv2d_backward_input(gyf, wf, x.shape(), g));
    }
    CHECK(max_rel_diff(runs[0], ref) < 2e-5);
    CHECK(bitwise_equal(runs[0], runs[1]));
    CHECK(bitwise_equal(runs[0], runs[2]));
    for (int64_t n : {int64_t(0), c.N - 1}) {
      if (n < 0 || n >= c.N) continue;
      const Shape xs{1, c.C, c.H, c.W};
      CHECK(bitwise_equal(ops::conv2d_backward_input(sample(gyf, n), wf, xs, g), sample(runs[0], n)));
    }
  }
  // finite differences of <gy, conv(x, w)> in x, float64, on a small plane
  const Case c{1, 32, 3, 4, 2, 3, 3, 1, 1, 0, 1, 1};
  const ops::Conv2dGeometry g = geometry(c);
  Tensor x = random_tensor({c.N, c.C, c.H, c.W}, rng);
  const Tensor w = random_tensor({c.O, c.C, c.KH, c.KW}, rng);
  const Tensor gy = random_tensor(ops::conv2d_output_shape(x.shape(), w.shape(), g), rng);
  const auto loss = [&]() {
    const Tensor y = ops::conv2d_forward(x, w, Tensor(), g);
    double s = 0;
    for (int64_t i = 0; i < y.numel(); ++i) s += y.item(i) * gy.item(i);
    return s;
  };
  const Tensor numeric = testing::numeric_gradient(loss, x);
  CHECK(max_rel_diff(ops::conv2d_backward_input(gy, w, x.shape(), g), numeric) < 1e-7);
}

TEST_CASE("conv2d_backward_input with the flipped weights handed over: their definition, the table's bits") {
  testing::RestoreThreadCount restore;
  Rng rng(33);
  const Tensor w = random_tensor({4, 3, 3, 2}, rng), wf = ops::conv2d_flipped_weights(w);
  REQUIRE(wf.shape() == Shape{3, 4, 3, 2});
  for (int64_t o = 0; o < 4; ++o)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 2; ++j)
          CHECK(wf.item(((c * 4 + o) * 3 + i) * 2 + j) == w.item(((o * 3 + c) * 3 + (2 - i)) * 2 + (1 - j)));
  // The same from the device-generic route (a transpose and a reversed slice) that other devices take.
  CHECK(bitwise_equal(ops::conv2d_flipped_weights(w.to(Device::Strict)).to(Device::CPU), wf));
  std::vector<cpu::PaddingTaps> routes;
  for (const Case& c : {
           Case{3, 32, 5, 7, 5, 3, 3, 1, 1, 1, 1, 1},    // the full GEMM, a partial last panel
           Case{2, 33, 6, 5, 4, 3, 2, 2, 4, 0, 1, 2},    // dilation, asymmetric padding
           Case{16, 48, 4, 4, 40, 3, 3, 1, 1, 1, 1, 1},  // border classes (a 4x4 plane)
           Case{16, 40, 2, 2, 96, 3, 3, 1, 1, 1, 1, 1},  // border classes by row blocks (a 2x2 plane)
           Case{1, 36, 3, 9, 2, 1, 3, 1, 0, 0, 2, 1},    // batch 1, a 1x3 kernel
       }) {
    CAPTURE(c.C);
    CAPTURE(c.N);
    const ops::Conv2dGeometry g = geometry(c);
    const Shape xs{c.N, c.C, c.H, c.W};
    const Tensor w64 = random_tensor({c.O, c.C, c.KH, c.KW}, rng);
    const Tensor gy64 = random_tensor(ops::conv2d_output_shape(xs, w64.shape(), g), rng);
    routes.push_back(cpu::conv2d_padding_taps(xs, w64.shape(), g, true));
    for (DType dt : {DType::F32, DType::F64}) {
      const Tensor wt = w64.to(dt), gy = gy64.to(dt), flipped = ops::conv2d_flipped_weights(wt);
      // The route reads what it is handed: flipped weights of 2w give the gradient of 2w.
      CHECK(bitwise_equal(ops::conv2d_backward_input(gy, wt, xs, g, ops::scale(flipped, 2.0)),
                          ops::conv2d_backward_input(gy, ops::scale(wt, 2.0), xs, g)));
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        CHECK(bitwise_equal(ops::conv2d_backward_input(gy, wt, xs, g, flipped),
                            ops::conv2d_backward_input(gy, wt, xs, g)));
      }
    }
  }
  for (cpu::PaddingTaps r : {cpu::PaddingTaps::Full, cpu::PaddingTaps::ClassByClass, cpu::PaddingTaps::RowBlocks})
    CHECK(std::count(routes.begin(), routes.end(), r) > 0);
  // Flipped weights that do not fit w: an error naming both.
  const Tensor x = random_tensor({1, 32, 4, 4}, rng), w2 = random_tensor({8, 32, 3, 3}, rng);
  const ops::Conv2dGeometry g1 = geometry(Case{1, 32, 4, 4, 8, 3, 3, 1, 1, 1, 1, 1});
  const Tensor gy = random_tensor(ops::conv2d_output_shape(x.shape(), w2.shape(), g1), rng);
  CHECK_THROWS_AS(ops::conv2d_backward_input(gy, w2, x.shape(), g1, w2), Error);  // (O, C, ...), not (C, O, ...)
  CHECK_THROWS_AS(ops::conv2d_backward_input(gy, w2, x.shape(), g1, ops::conv2d_flipped_weights(w2).to(DType::F32)),
                  Error);  // another dtype
}

TEST_CASE("Conv2d frozen: the unfrozen bits, and params() drops the flipped weights") {
  Rng rng(34);
  Conv2d conv("c", 40, 48, 3, 3, Conv2dOptions::same(1, 1), DType::F32);
  conv.init(rng);
  const Tensor x = random_tensor({4, 40, 6, 6}, rng).to(DType::F32);
  Saved saved;
  const Tensor y = conv.forward({x}, saved, {}).at(0);
  const Tensor gy = random_tensor(y.shape(), rng).to(DType::F32);
  const Tensor unfrozen = conv.backward({gy}, saved, {}).at(0);
  CHECK_FALSE(conv.flipped_weights().defined());
  conv.freeze();
  for (int pass = 1; pass <= Conv2d::kFlipAtPass; ++pass) {  // built by the kFlipAtPass-th input gradient
    CHECK_FALSE(conv.flipped_weights().defined());
    CHECK(bitwise_equal(conv.backward({gy}, saved, {}).at(0), unfrozen));
  }
  REQUIRE(conv.flipped_weights().defined());
  CHECK(bitwise_equal(conv.flipped_weights(), ops::conv2d_flipped_weights(conv.weight())));
  // LinearLike with the layer's own weight reads the flipped copy; with other weights, those weights.
  CHECK(bitwise_equal(conv.linear_backward_input(gy, conv.weight(), x.shape()), unfrozen));
  const Tensor doubled = ops::scale(conv.weight(), 2.0);
  CHECK(bitwise_equal(conv.linear_backward_input(gy, doubled, x.shape()),
                      ops::conv2d_backward_input(gy, doubled, x.shape(), conv.geometry())));
  // A change through params() (what training and loading use) is never read stale.
  for (Param* p : conv.params())
    if (p->value.ndim() == 4) p->value.copy_from(doubled);
  CHECK_FALSE(conv.flipped_weights().defined());
  CHECK(bitwise_equal(conv.backward({gy}, saved, {}).at(0),
                      ops::conv2d_backward_input(gy, doubled, x.shape(), conv.geometry())));
  conv.freeze();  // frozen again, on the new weights
  for (int pass = 1; pass <= Conv2d::kFlipAtPass; ++pass)
    CHECK(bitwise_equal(conv.backward({gy}, saved, {}).at(0),
                        ops::conv2d_backward_input(gy, doubled, x.shape(), conv.geometry())));
  CHECK(bitwise_equal(conv.flipped_weights(), ops::conv2d_flipped_weights(doubled)));
  // A copy starts unfrozen.
  const Conv2d copy = conv;
  CHECK_FALSE(copy.flipped_weights().defined());
}
