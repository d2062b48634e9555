// MaxPool2d tie routing over many geometries (split from test_cnn_layers.cpp to keep files short).
#include <doctest/doctest.h>

#include "engine/ops.h"
#include "engine/random.h"
#include "layers/maxpool2d.h"

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
