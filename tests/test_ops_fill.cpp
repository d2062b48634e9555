// engine/ops_fill.h: each op by its definition (written out by hand here), the max-pool gather against
// float64 central differences of the max-pool, the quadrature sum's independence of chunking, the bad
// arguments; and each CUDA kernel body of kernels/fill_body.h run on the host against the CPU op
// (bit for bit: the bodies compute the same formula in the same order).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/random.h"
#include "kernels/fill_body.h"

using namespace xdnn;
using cuda::run_on_host;

namespace {

Tensor uniform(const Shape& s, Rng& rng, DType dt = DType::F64) {
  Tensor t(s, dt);
  ops::fill_uniform_inplace(t, -2.0, 2.0, rng);
  return t;
}

Tensor ids(const std::vector<int64_t>& v) { return Tensor::from_vector({static_cast<int64_t>(v.size())}, v); }

}  // namespace

TEST_CASE("fill ops: uniform and normal fills draw the Rng's numbers in flat order, rounded to the dtype") {
  for (DType dt : {DType::F32, DType::F64}) {
    Rng a(5), b(5);
    Tensor t({3, 7}, dt);
    ops::fill_uniform_inplace(t, -0.5, 1.5, a);
    for (int64_t i = 0; i < t.numel(); ++i) {
      const double u = b.uniform(-0.5, 1.5);
      CHECK(t.item(i) == (dt == DType::F32 ? static_cast<double>(static_cast<float>(u)) : u));
    }
    ops::fill_normal_inplace(t, 1.0, 0.25, a);
    for (int64_t i = 0; i < t.numel(); ++i) {
      const double v = 1.0 + 0.25 * b.normal();
      CHECK(t.item(i) == (dt == DType::F32 ? static_cast<double>(static_cast<float>(v)) : v));
    }
  }
  Tensor labels({4}, DType::I64);
  Rng rng(1);
  CHECK_THROWS_WITH(ops::fill_uniform_inplace(labels, 0, 1, rng), doctest::Contains("expected a float tensor"));
}

TEST_CASE("fill ops: length masks by hand, time-major and batch-major, ones and mean weights") {
  const Tensor len = ids({2, 0, 3});
  const Tensor m = ops::length_mask(len, 3, false, false, 0, DType::F64, "test");
  const std::vector<double> want = {1, 1, 0, 0, 0, 0, 1, 1, 1};
  for (int64_t i = 0; i < 9; ++i) CHECK(m.item(i) == want[i]);
  const Tensor tm = ops::length_mask(len, 3, true, false, 0, DType::F32, "test");
  REQUIRE(tm.shape() == Shape{3, 3});
  for (int64_t t = 0; t < 3; ++t)
    for (int64_t n = 0; n < 3; ++n) CHECK(tm.item(t * 3 + n) == want[n * 3 + t]);
  const Tensor w = ops::length_mask(ids({2, 3}), 3, false, true, 1, DType::F32, "test");
  CHECK(w.item(0) == doctest::Approx(0.5));
  CHECK(w.item(2) == 0.0);
  CHECK(w.item(3) == static_cast<float>(1.0 / 3.0));
  CHECK_THROWS_WITH(ops::length_mask(ids({2, 4}), 3, false, false, 0, DType::F32, "RNN"),
                    "RNN: length 4 of sample 1 is outside [0, 3]");
  CHECK_THROWS_WITH(ops::length_mask(ids({0}), 3, false, true, 1, DType::F32, "MeanTokenPooling"),
                    "MeanTokenPooling: length 0 of sample 0 is outside [1, 3]");
  CHECK_THROWS_WITH(ops::length_mask(Tensor({2}, DType::F32), 3, false, false, 0, DType::F32, "RNN"),
                    doctest::Contains("RNN: expected lengths int64 (2)"));
}

TEST_CASE("fill ops: attention mask hides future keys and padded keys with -inf") {
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor kpm = Tensor::from_vector({2, 3}, std::vector<int64_t>{0, 0, 1, 0, 0, 0});
  const Tensor m = ops::attention_mask(2, 3, true, kpm, DType::F32, Device::CPU);
  REQUIRE(m.shape() == Shape{2, 1, 3, 3});
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 3; ++j) {
        const bool hidden = j > i || (n == 0 && j == 2);
        CHECK(m.item((n * 3 + i) * 3 + j) == (hidden ? -inf : 0.0));
      }
  const Tensor plain = ops::attention_mask(1, 2, false, Tensor(), DType::F64, Device::CPU);
  CHECK(ops::sum_all(ops::unary(ops::Unary::Abs, plain)) == 0.0);
  CHECK_THROWS_WITH(ops::attention_mask(2, 4, false, kpm, DType::F32, Device::CPU),
                    doctest::Contains("expected key_padding_mask (2, 4)"));
}

TEST_CASE("fill ops: sinusoidal table by its formula") {
  const Tensor p = ops::sinusoid_table(5, 6, DType::F64, Device::CPU);
  for (int64_t t = 0; t < 5; ++t)
    for (int64_t j = 0; j < 6; ++j) {
      const double w = std::pow(10000.0, -static_cast<double>(j - j % 2) / 6.0);
      CHECK(p.item(t * 6 + j) == (j % 2 == 0 ? std::sin(t * w) : std::cos(t * w)));
    }
}

TEST_CASE("fill ops: one-hot, kept targets, arg-max (first on ties) by hand") {
  const Tensor oh = ops::one_hot(ids({2, 0}), 3, DType::F32);
  const std::vector<double> want = {0, 0, 1, 1, 0, 0};
  for (int64_t i = 0; i < 6; ++i) CHECK(oh.item(i) == want[i]);
  const Tensor x = Tensor::from_vector({2, 3}, std::vector<double>{-1.5, 2, 2, 7, -3, 7});
  const Tensor kept = ops::keep_targets(x, ids({0, 1}));
  const std::vector<double> kw = {-1.5, 0, 0, 0, -3, 0};
  for (int64_t i = 0; i < 6; ++i) CHECK(kept.item(i) == kw[i]);
  CHECK(!std::signbit(kept.item(1)));  // +0, not −0: what a seed built by hand holds
  const Tensor am = ops::argmax_last_axis(x);
  REQUIRE(am.shape() == Shape{2});
  CHECK(am.item(0) == 1);
  CHECK(am.item(1) == 0);
  CHECK_THROWS_WITH(ops::one_hot(ids({3}), 3, DType::F32), "one_hot: target 3 of row 0 is outside [0, 2]");
  CHECK_THROWS_WITH(ops::keep_targets(x, ids({0, -1})), "keep_targets: target -1 of row 1 is outside [0, 2]");
}

TEST_CASE("fill ops: path points and the quadrature sum by definition, any chunking the same bits") {
  Rng rng(3);
  for (DType dt : {DType::F32, DType::F64}) {
    const Tensor base = uniform({2, 5}, rng, dt), delta = uniform({2, 5}, rng, dt);
    const std::vector<double> alphas = {0.1, 0.5, 0.9}, weights = {0.2, 0.3, 0.5};
    const Tensor pts = ops::interpolate_rows(base, delta, alphas);
    REQUIRE(pts.shape() == Shape{6, 5});
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t i = 0; i < 10; ++i) {
        double want = base.item(i) + static_cast<double>(static_cast<float>(alphas[j])) * delta.item(i);
        if (dt == DType::F64) want = base.item(i) + alphas[j] * delta.item(i);
        CHECK(pts.item(j * 10 + i) == doctest::Approx(want).epsilon(1e-6));
      }
    Tensor all({2, 5}, DType::F64), parts({2, 5}, DType::F64);
    ops::accumulate_weighted_rows(all, pts, weights);
    for (int64_t j = 0; j < 3; ++j)
      ops::accumulate_weighted_rows(parts, pts.slice_batch(2 * j, 2 * j + 2), {weights[j]});
    CHECK(bitwise_equal(all, parts));
    for (int64_t i = 0; i < 10; ++i) {
      double want = 0;
      for (int64_t j = 0; j < 3; ++j) want += weights[j] * pts.item(j * 10 + i);
      CHECK(all.item(i) == want);
    }
  }
  Tensor s32({2}, DType::F32);
  CHECK_THROWS_WITH(ops::accumulate_weighted_rows(s32, Tensor({2}), {1.0}),
                    doctest::Contains("expected a float64 sum"));
}

TEST_CASE("fill ops: max-pool gather = the max-pool's directional derivative (float64 central differences)") {
  Rng rng(9);
  const Tensor x = uniform({2, 3, 5, 4}, rng), r = uniform({2, 3, 5, 4}, rng);
  ops::Pool2dGeometry g;
  g.kernel_h = g.kernel_w = 2;
  g.stride_h = g.stride_w = 2;
  g.pad_top = g.pad_left = 1;
  Tensor argmax;
  ops::maxpool2d_forward(x, g, argmax);
  const Tensor ry = ops::maxpool2d_gather(r, argmax);
  const double h = 1e-6;
  Tensor a, b;
  const Tensor yp = ops::maxpool2d_forward(ops::add(x, ops::scale(r, h)), g, a);
  const Tensor ym = ops::maxpool2d_forward(ops::sub(x, ops::scale(r, h)), g, b);
  const Tensor fd = ops::scale(ops::sub(yp, ym), 0.5 / h);
  REQUIRE(ry.shape() == fd.shape());
  for (int64_t i = 0; i < ry.numel(); ++i) CHECK(ry.item(i) == doctest::Approx(fd.item(i)).epsilon(1e-6));
}

TEST_CASE("fill ops: the CUDA kernel bodies on the host equal the CPU ops bit for bit") {
  Rng rng(4);
  const Tensor len = ids({3, 1, 4});
  for (bool tm : {false, true})
    for (bool mean : {false, true}) {
      const Tensor want = ops::length_mask(len, 4, tm, mean, 1, DType::F32, "t");
      Tensor got(want.shape(), DType::F32);
      run_on_host(got.numel(), cuda::LengthMaskBody<float>{len.data<int64_t>(), got.data<float>(), 3, 4, tm, mean});
      CHECK(bitwise_equal(got, want));
    }
  const Tensor kpm = Tensor::from_vector({2, 3}, std::vector<double>{0, 1, 0, 0, 0, 1});
  for (bool causal : {false, true}) {
    const Tensor want = ops::attention_mask(2, 3, causal, kpm, DType::F64, Device::CPU);
    Tensor got(want.shape(), DType::F64);
    run_on_host(got.numel(),
                cuda::AttentionMaskBody<double, double>{kpm.data<double>(), got.data<double>(), 3, causal});
    CHECK(bitwise_equal(got, want));
  }
  {
    const Tensor want = ops::sinusoid_table(7, 6, DType::F32, Device::CPU);
    Tensor got(want.shape(), DType::F32);
    run_on_host(got.numel(), cuda::SinusoidBody<float>{got.data<float>(), 6});
    CHECK(bitwise_equal(got, want));
  }
  const Tensor x = uniform({4, 5}, rng), tg = ids({4, 0, 2, 2});
  {
    Tensor got({4, 5}, DType::F64), got1({4, 5}, DType::F64);
    run_on_host(got.numel(),
                cuda::KeepTargetsBody<double>{x.data<double>(), tg.data<int64_t>(), got.data<double>(), 5});
    run_on_host(got1.numel(), cuda::KeepTargetsBody<double>{nullptr, tg.data<int64_t>(), got1.data<double>(), 5});
    CHECK(bitwise_equal(got, ops::keep_targets(x, tg)));
    CHECK(bitwise_equal(got1, ops::one_hot(tg, 5, DType::F64)));
    Tensor am({4}, DType::I64);
    run_on_host(4, cuda::ArgmaxRowBody<double>{x.data<double>(), am.data<int64_t>(), 5});
    CHECK(bitwise_equal(am, ops::argmax_last_axis(x)));
  }
  {
    const Tensor base = uniform({3, 4}, rng, DType::F32), delta = uniform({3, 4}, rng, DType::F32);
    const std::vector<double> alphas = {0.25, 0.7}, weights = {0.4, 0.6};
    const std::vector<float> a32(alphas.begin(), alphas.end());
    const Tensor want = ops::interpolate_rows(base, delta, alphas);
    Tensor got(want.shape(), DType::F32);
    run_on_host(got.numel(), cuda::InterpolateRowsBody<float>{base.data<float>(), delta.data<float>(), a32.data(),
                                                              got.data<float>(), 12});
    CHECK(bitwise_equal(got, want));
    Tensor s1 = uniform({3, 4}, rng), s2 = s1.clone();
    ops::accumulate_weighted_rows(s1, want, weights);
    run_on_host(12, cuda::WeightedRowsBody<float>{want.data<float>(), weights.data(), s2.data<double>(), 12, 2});
    CHECK(bitwise_equal(s1, s2));
  }
  {
    const Tensor px = uniform({1, 2, 4, 4}, rng);
    const Tensor am = Tensor::from_vector({1, 2, 1, 2}, std::vector<int64_t>{5, -1, 15, 0});
    Tensor got({1, 2, 1, 2}, DType::F64);
    run_on_host(4, cuda::MaxpoolGatherBody<double>{px.data<double>(), am.data<int64_t>(), got.data<double>(), 16, 2});
    CHECK(bitwise_equal(got, ops::maxpool2d_gather(px, am)));
    CHECK(got.item(1) == 0.0);
    CHECK(got.item(2) == px.item(16 + 15));
  }
}
