// Convolutions that skip their padding taps (engine/cpu/conv_border.h): one GEMM per border class of
// output positions, over the taps inside the input only. The claim is bit-identity with the full im2col
// GEMM, so each case is checked where the route is taken (a batch whose classes have enough columns)
// against the same samples alone, where it is not (the full product), byte for byte; in the forward pass
// and in the input gradient (the flipped forward, conv_flipped.h), on 1 and 2 threads, and float32 against
// float64 to rounding. (The full route itself is checked against the definition and finite differences in
// test_conv_resnet.cpp.)
#include <doctest/doctest.h>

#include <vector>

#include "engine/cpu/conv_routes.h"
#include "engine/ops.h"
#include "engine/parallel.h"
#include "layers/registry.h"
#include "tests/conv_fixtures.h"
#include "tests/gradcheck.h"
#include "tests/thread_count.h"

using namespace xdnn;
using testing::max_rel_diff;
using testing::sample_of;

namespace {

using cpu::PaddingTaps;

struct BorderCase {
  int64_t N, C, H, W, O, KH, KW;
  ops::Conv2dGeometry g;
  PaddingTaps forward, input_gradient;  // the routes the batch takes
};

ops::Conv2dGeometry geom(int64_t stride, int64_t pt, int64_t pl, int64_t pb, int64_t pr, int64_t dilation = 1) {
  ops::Conv2dGeometry g;
  g.stride_h = g.stride_w = stride;
  g.pad_top = pt;
  g.pad_left = pl;
  g.pad_bottom = pb;
  g.pad_right = pr;
  g.dilation_h = g.dilation_w = dilation;
  return g;
}

constexpr PaddingTaps kFull = PaddingTaps::Full, kByClass = PaddingTaps::ClassByClass, kByRows = PaddingTaps::RowBlocks;

const std::vector<BorderCase> kBorderCases = {
    // ResNet-18 layer4 / layer3 at 64x64 input (channels cut down): 2x2 and 4x4 planes, 3x3, pad 1. K = 9·C
    // crosses the GEMM's 256-wide k-blocks inside a channel's taps.
    {16, 64, 2, 2, 64, 3, 3, geom(1, 1, 1, 1, 1), kByRows, kByRows},
    {16, 48, 4, 4, 40, 3, 3, geom(1, 1, 1, 1, 1), kByClass, kByClass},
    {64, 32, 4, 4, 32, 3, 3, geom(1, 1, 1, 1, 1), kByClass, kByClass},
    // stride 2 (rows stored by phase), asymmetric padding
    {16, 40, 4, 4, 48, 3, 3, geom(2, 1, 1, 1, 1), kByRows, kFull},
    {16, 36, 4, 5, 32, 3, 3, geom(1, 2, 0, 1, 2), kByClass, kByClass},
    // dilation 2, a 5x5 kernel reaching far into the padding, a 1x3 kernel
    {16, 33, 4, 4, 34, 3, 3, geom(1, 2, 2, 2, 2, 2), kByClass, kByClass},
    {16, 32, 3, 3, 32, 5, 5, geom(1, 2, 2, 2, 2), kByRows, kByRows},
    {16, 40, 3, 2, 40, 1, 3, geom(1, 0, 1, 0, 1), kByClass, kByClass},
    // padding beyond the kernel's reach: the first and last output rows and columns have no tap inside
    // (classes with K_q = 0, outputs = bias)
    {16, 32, 2, 2, 32, 3, 3, geom(1, 3, 3, 3, 3), kByRows, kFull},
};

}  // namespace

TEST_CASE("conv2d skipping padding taps: the full GEMM's bits (a sample alone), 1 and 2 threads, float32 vs float64") {
  testing::RestoreThreadCount restore;
  Rng rng(2026);
  for (const BorderCase& c : kBorderCases) {
    CAPTURE(c.C);
    CAPTURE(c.H);
    CAPTURE(c.KH);
    const ops::Conv2dGeometry& g = c.g;
    const Shape xs{c.N, c.C, c.H, c.W}, ws{c.O, c.C, c.KH, c.KW}, x1{1, c.C, c.H, c.W};
    // The comparison is between the two routes only if the batch takes the class route and a sample alone
    // does not.
    REQUIRE(cpu::conv2d_padding_taps(xs, ws, g, false) == c.forward);
    REQUIRE(cpu::conv2d_padding_taps(xs, ws, g, true) == c.input_gradient);
    REQUIRE(cpu::conv2d_padding_taps(x1, ws, g, false) == kFull);
    REQUIRE(cpu::conv2d_padding_taps(x1, ws, g, true) == kFull);
    const Tensor x64 = random_tensor(xs, rng), w64 = random_tensor(ws, rng), b64 = random_tensor({c.O}, rng);
    const Shape ys = ops::conv2d_output_shape(xs, ws, g);
    const Tensor gy64 = random_tensor(ys, rng);
    const Tensor x = x64.to(DType::F32), w = w64.to(DType::F32), b = b64.to(DType::F32), gy = gy64.to(DType::F32);
    std::vector<Tensor> y, gx;
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      y.push_back(ops::conv2d_forward(x, w, b, g));
      gx.push_back(ops::conv2d_backward_input(gy, w, xs, g));
    }
    CHECK(bitwise_equal(y[0], y[1]));
    CHECK(bitwise_equal(gx[0], gx[1]));
    for (int64_t n = 0; n < c.N; ++n) {
      CHECK(bitwise_equal(ops::conv2d_forward(sample_of(x, n), w, b, g), sample_of(y[0], n)));
      CHECK(bitwise_equal(ops::conv2d_backward_input(sample_of(gy, n), w, x1, g), sample_of(gx[0], n)));
    }
    // float64 takes the class route too (its panels are half as wide): its batch gives its samples' bits,
    // and float32 agrees with it to rounding
    const Tensor y64 = ops::conv2d_forward(x64, w64, b64, g), gx64 = ops::conv2d_backward_input(gy64, w64, xs, g);
    for (int64_t n = 0; n < c.N; ++n) {
      CHECK(bitwise_equal(ops::conv2d_forward(sample_of(x64, n), w64, b64, g), sample_of(y64, n)));
      CHECK(bitwise_equal(ops::conv2d_backward_input(sample_of(gy64, n), w64, x1, g), sample_of(gx64, n)));
    }
    CHECK(max_rel_diff(y[0].to(DType::F64), y64) < 1e-4);
    CHECK(max_rel_diff(gx[0].to(DType::F64), gx64) < 1e-4);
  }
}

TEST_CASE("conv2d skipping padding taps: not taken where it would not pay or has nothing to skip") {
  const ops::Conv2dGeometry pad1 = geom(1, 1, 1, 1, 1), none = geom(1, 0, 0, 0, 0);
  // a large plane: the border is a small share of the positions (ResNet-18's layer1 at 64x64)
  CHECK(kFull == cpu::conv2d_padding_taps({16, 64, 16, 16}, {64, 64, 3, 3}, pad1, false));
  // no padding, a 1x1 kernel, fewer than 32 output channels (the im2col buffer route)
  CHECK(kFull == cpu::conv2d_padding_taps({16, 64, 4, 4}, {64, 64, 3, 3}, none, false));
  CHECK(kFull == cpu::conv2d_padding_taps({16, 64, 4, 4}, {64, 64, 1, 1}, pad1, false));
  CHECK(kFull == cpu::conv2d_padding_taps({16, 64, 4, 4}, {16, 64, 3, 3}, pad1, false));
  // groups
  ops::Conv2dGeometry grouped = pad1;
  grouped.groups = 2;
  CHECK(kFull == cpu::conv2d_padding_taps({16, 64, 4, 4}, {64, 32, 3, 3}, grouped, false));
}
