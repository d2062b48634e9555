// MaxPool2d tie routing over many geometries (split from test_cnn_layers.cpp to keep files short).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "engine/ops.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "layers/maxpool2d.h"
#include "tests/thread_count.h"

using namespace xdnn;

TEST_CASE("MaxPool2d: many ties, every geometry, matches a naive first-maximum reference") {
  Rng rng(31);
  Tensor x({2, 3, 9, 10}, DType::F64);
  for (int64_t i = 0; i < x.numel(); ++i) x.set_item(i, static_cast<double>(rng.below(3)));  // values 0, 1, 2
  struct Case {
    int64_t kh, kw, s, p, d;
    bool ceil;
  };
  const Case cases[] = {{2, 2, 2, 0, 1, false},
                        {3, 3, 1, 1, 1, false},
                        {3, 3, 2, 1, 1, true},
                        {2, 3, 1, 1, 2, false},
                        {3, 2, 2, 0, 1, true}};
  for (const auto& c : cases) {
    ops::Pool2dGeometry g;
    g.kernel_h = c.kh, g.kernel_w = c.kw, g.stride_h = g.stride_w = c.s;
    g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = c.p;
    g.dilation_h = g.dilation_w = c.d;
    g.ceil_mode = c.ceil;
    MaxPool2d pool(g);
    Saved s;
    Tensor y = pool.forward({x}, s, {}).at(0);
    Tensor gy({y.shape()}, DType::F64);
    for (int64_t i = 0; i < gy.numel(); ++i) gy.set_item(i, static_cast<double>(i + 1));
    Tensor gx = pool.backward({gy}, s, {}).at(0);
    Tensor ref_gx(x.shape(), DType::F64);
    int mismatches = 0;
    const int64_t H = 9, W = 10, OH = y.dim(2), OW = y.dim(3);
    for (int64_t plane = 0; plane < 6; ++plane)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double best = -1;
          int64_t arg = -1;
          for (int64_t i = 0; i < c.kh; ++i)
            for (int64_t j = 0; j < c.kw; ++j) {
              const int64_t h = oh * c.s - c.p + i * c.d, w = ow * c.s - c.p + j * c.d;
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              const double v = x.item(plane * H * W + h * W + w);
              if (arg < 0 || v > best) best = v, arg = plane * H * W + h * W + w;
            }
          const int64_t o = plane * OH * OW + oh * OW + ow;
          mismatches += y.item(o) != best;
          ref_gx.set_item(arg, ref_gx.item(arg) + gy.item(o));
        }
    INFO("kernel ", c.kh, "x", c.kw, " stride ", c.s, " pad ", c.p, " dilation ", c.d);
    CHECK(mismatches == 0);
    CHECK(bitwise_equal(gx, ref_gx));
  }
}

// The float32 3x3 stride-2 route (ResNet's stem pool: engine/cpu/pooling.cpp reads 8 outputs at a time, in place
// or through a bordered copy of their window) against a naive first-maximum / first-NaN scan: every output and
// arg-max, for rows of 1..21 outputs, paddings 0..2, ceil_mode, batches with NaN, ±inf (all −∞ windows too)
// and ±0 ties, on 1 and 2 threads.
TEST_CASE("MaxPool2d 3x3 stride 2, float32: values and arg-max of the naive scan, borders and NaN included") {
  testing::RestoreThreadCount guard;
  Rng rng(7);
  const float inf = std::numeric_limits<float>::infinity();
  int checked = 0;
  for (int64_t H : {1, 2, 3, 5, 8, 17, 32})
    for (int64_t W : {1, 2, 3, 4, 9, 15, 16, 17, 18, 19, 32, 33, 41})
      for (int64_t p : {0, 1, 2})
        for (bool ceil_mode : {false, true}) {
          if (H + 2 * p < 3 || W + 2 * p < 3) continue;
          ops::Pool2dGeometry g;
          g.kernel_h = g.kernel_w = 3;
          g.stride_h = g.stride_w = 2;
          g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = p;
          g.ceil_mode = ceil_mode;
          Tensor x({2, 2, H, W}, DType::F32);
          const bool all_minus_inf = rng.below(4) == 0;  // windows of −∞ only: the scalar fallback
          for (int64_t i = 0; i < x.numel(); ++i) {
            const int64_t u = rng.below(20);
            const double v = all_minus_inf && u < 14 ? -inf
                             : u == 0                ? std::nan("")
                             : u == 1                ? inf
                             : u == 2                ? -inf
                             : u == 3                ? -0.0
                                                     : static_cast<double>(rng.below(4));
            x.set_item(i, v);
          }
          for (int threads : {1, 2}) {
            set_num_threads(threads);
            Tensor argmax;
            const Tensor y = ops::maxpool2d_forward(x, g, argmax);
            const int64_t OH = y.dim(2), OW = y.dim(3);
            int mismatches = 0;
            for (int64_t plane = 0; plane < 4; ++plane)
              for (int64_t oh = 0; oh < OH; ++oh)
                for (int64_t ow = 0; ow < OW; ++ow) {
                  float best = -inf;
                  int64_t arg = -1;
                  for (int64_t i = 0; i < 3; ++i)
                    for (int64_t j = 0; j < 3; ++j) {
                      const int64_t h = 2 * oh - p + i, w = 2 * ow - p + j;
                      if (h < 0 || h >= H || w < 0 || w >= W) continue;
                      const float v = static_cast<float>(x.item(plane * H * W + h * W + w));
                      if (arg < 0 || v > best || (std::isnan(v) && !std::isnan(best))) best = v, arg = h * W + w;
                    }
                  const int64_t o = plane * OH * OW + oh * OW + ow;
                  const float got = static_cast<float>(y.item(o));
                  const bool same_value =
                      std::isnan(best) ? std::isnan(got) : got == best && std::signbit(got) == std::signbit(best);
                  mismatches += !same_value || static_cast<int64_t>(argmax.item(o)) != arg;
                }
            INFO("H ", H, " W ", W, " pad ", p, " ceil ", ceil_mode, " threads ", threads);
            CHECK(mismatches == 0);
            ++checked;
          }
        }
  CHECK(checked > 400);
}
