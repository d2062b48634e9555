// Training fast paths against their general counterparts (engine/cpu/conv.cpp, engine/cpu/pooling.cpp,
// Model::backward's input_grad): the batch-folded convolution against one sample at a time and a direct
// reference, the 2x2 stride-2 max-pool against a first-maximum reference (ties, NaNs, odd sizes), and a
// parameter-only backward pass against the full one.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "engine/ops.h"
#include "engine/parallel.h"
#include "layers/registry.h"
#include "models/model.h"
#include "models/zoo.h"
#include "tests/gradcheck.h"

using namespace xdnn;
using testing::max_rel_diff;
using testing::naive_pool2x2;

namespace {

struct ConvCase {
  const char* name;
  Shape x, w;
  ops::Conv2dGeometry g;
};

ops::Conv2dGeometry geometry(int64_t s, int64_t p, int64_t d = 1, int64_t groups = 1) {
  ops::Conv2dGeometry g;
  g.stride_h = g.stride_w = s;
  g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = p;
  g.dilation_h = g.dilation_w = d;
  g.groups = groups;
  return g;
}

std::vector<ConvCase> conv_cases() {
  ops::Conv2dGeometry asym = geometry(2, 0, 1, 2);
  asym.stride_w = 1;
  asym.pad_top = 1, asym.pad_bottom = 2, asym.pad_right = 1;
  asym.dilation_w = 2;
  // Batches of 21 and 37: several chunks of more than one sample each, and a short last chunk.
  return {{"3x3 pad 1 (fashion-cnn conv2, odd size)", {21, 3, 7, 9}, {5, 3, 3, 3}, geometry(1, 1)},
          {"stride 2, asymmetric padding, dilation, groups", {37, 4, 6, 5}, {6, 2, 3, 2}, asym},
          {"1x1 pointwise, groups 2", {21, 4, 3, 5}, {6, 2, 1, 1}, geometry(1, 0, 1, 2)},
          {"one input channel, 5x5 pad 2", {37, 1, 5, 4}, {3, 1, 5, 5}, geometry(1, 2)}};
}

}  // namespace

TEST_CASE("conv2d batch folding: each sample's forward and input gradient bits equal its own batch of one") {
  Rng rng(11);
  for (const auto& c : conv_cases()) {
    CAPTURE(c.name);
    for (DType dt : {DType::F32, DType::F64}) {
      const Tensor x = random_tensor(c.x, rng).to(dt), w = random_tensor(c.w, rng).to(dt);
      const Tensor b = random_tensor({c.w[0]}, rng).to(dt);
      const Tensor y = ops::conv2d_forward(x, w, b, c.g);
      const Tensor gy = random_tensor(y.shape(), rng).to(dt);
      const Tensor gx = ops::conv2d_backward_input(gy, w, c.x, c.g);
      bool same = true;
      for (int64_t n = 0; n < c.x[0]; ++n) {
        const Tensor xn = x.slice_batch(n, n + 1).clone(), gyn = gy.slice_batch(n, n + 1).clone();
        Shape xs = c.x;
        xs[0] = 1;
        same = same && bitwise_equal(ops::conv2d_forward(xn, w, b, c.g), y.slice_batch(n, n + 1).clone());
        same = same && bitwise_equal(ops::conv2d_backward_input(gyn, w, xs, c.g), gx.slice_batch(n, n + 1).clone());
      }
      CHECK(same);
    }
  }
}

TEST_CASE("conv2d batch folding: weight gradient equals the sum of per-example gradients; 1 vs 2 threads bits") {
  Rng rng(12);
  for (const auto& c : conv_cases()) {
    CAPTURE(c.name);
    const Tensor x = random_tensor(c.x, rng), w = random_tensor(c.w, rng);
    const Tensor gy = random_tensor(ops::conv2d_output_shape(c.x, c.w, c.g), rng);
    Tensor gw(c.w, DType::F64);
    ops::conv2d_backward_weight(x, gy, gw, false, c.g);
    const Tensor per = ops::conv2d_backward_weight_per_example(x, gy, c.w, c.g);  // (N, ...w)
    Tensor sum(c.w, DType::F64);
    for (int64_t n = 0; n < c.x[0]; ++n) ops::add_inplace(sum, per.slice_batch(n, n + 1).reshape(c.w));
    CHECK(max_rel_diff(gw, sum) < 1e-12);
    // Accumulating adds onto what is there.
    Tensor acc = gw.clone();
    ops::conv2d_backward_weight(x, gy, acc, true, c.g);
    CHECK(max_rel_diff(acc, ops::scale(gw, 2.0)) < 1e-12);

    const Tensor xf = x.to(DType::F32), wf = w.to(DType::F32), gyf = gy.to(DType::F32);
    const int saved = num_threads();
    Tensor y[2], gx[2], gwf[2];
    for (int t = 0; t < 2; ++t) {
      set_num_threads(t + 1);
      y[t] = ops::conv2d_forward(xf, wf, Tensor(), c.g);
      gx[t] = ops::conv2d_backward_input(gyf, wf, c.x, c.g);
      gwf[t] = Tensor(c.w, DType::F32);
      ops::conv2d_backward_weight(xf, gyf, gwf[t], false, c.g);
    }
    set_num_threads(saved);
    CHECK(bitwise_equal(y[0], y[1]));
    CHECK(bitwise_equal(gx[0], gx[1]));
    CHECK(bitwise_equal(gwf[0], gwf[1]));
  }
}

TEST_CASE("maxpool2d 2x2 stride-2 fast path: ties, NaNs, odd sizes, float and double, forward and backward") {
  Rng rng(13);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Widths give output rows of 8 (one float vector, two double vectors), 17 (vectors and a tail), 3
  // (scalar only), 4, 5 and 7 (one double vector, then one overlapping it); odd heights and widths leave a
  // last row / column that no window covers.
  for (const Shape& s : std::vector<Shape>{
           {2, 3, 8, 16}, {1, 2, 9, 35}, {3, 1, 7, 7}, {2, 2, 28, 28}, {1, 2, 14, 14}, {2, 1, 10, 11}, {1, 3, 8, 9}}) {
    for (DType dt : {DType::F32, DType::F64}) {
      CAPTURE(shape_str(s));
      Tensor x(s, DType::F64);
      for (int64_t i = 0; i < x.numel(); ++i) {
        const uint64_t r = rng.below(10);  // few distinct values: many ties, including -0 against +0
        x.set_item(i, r == 0 ? nan : r == 1 ? -0.0 : r == 2 ? 0.0 : static_cast<double>(r % 3));
      }
      x = x.to(dt);
      ops::Pool2dGeometry g;
      g.kernel_h = g.kernel_w = g.stride_h = g.stride_w = 2;
      Tensor arg;
      const Tensor y = ops::maxpool2d_forward(x, g, arg);
      Tensor ry, rarg;
      naive_pool2x2(x, ry, rarg);
      CHECK(bitwise_equal(arg, rarg));
      CHECK(bitwise_equal(y, ry.to(dt)));
      // ceil_mode with odd sizes takes the general path (windows hang over the edge); its full windows
      // must agree with the fast path.
      g.ceil_mode = true;
      Tensor arg_c;
      const Tensor yc = ops::maxpool2d_forward(x, g, arg_c);
      bool agree = true;
      for (int64_t pl = 0; pl < s[0] * s[1]; ++pl)
        for (int64_t oh = 0; oh < y.dim(2); ++oh)
          for (int64_t ow = 0; ow < y.dim(3); ++ow) {
            const int64_t i = (pl * y.dim(2) + oh) * y.dim(3) + ow, ic = (pl * yc.dim(2) + oh) * yc.dim(3) + ow;
            agree = agree && arg.item(i) == arg_c.item(ic);
          }
      CHECK(agree);
      // Backward routes each output gradient to its arg-max and nothing else.
      Tensor gy(y.shape(), dt);
      for (int64_t i = 0; i < gy.numel(); ++i) gy.set_item(i, static_cast<double>(i + 1));
      const Tensor gx = ops::maxpool2d_backward(gy, arg, s);
      Tensor ref(s, dt);
      const int64_t HW = s[2] * s[3], OHW = y.dim(2) * y.dim(3);
      for (int64_t i = 0; i < gy.numel(); ++i)
        ref.set_item((i / OHW) * HW + static_cast<int64_t>(rarg.item(i)), static_cast<double>(i + 1));
      CHECK(bitwise_equal(gx, ref));
      // Planes are split over threads: 1 and 2 threads give the same bits.
      const int saved = num_threads();
      g.ceil_mode = false;
      Tensor y_t[2], arg_t[2], gx_t[2];
      for (int t = 0; t < 2; ++t) {
        set_num_threads(t + 1);
        y_t[t] = ops::maxpool2d_forward(x, g, arg_t[t]);
        gx_t[t] = ops::maxpool2d_backward(gy, arg_t[t], s);
      }
      set_num_threads(saved);
      CHECK(bitwise_equal(y_t[0], y_t[1]));
      CHECK(bitwise_equal(arg_t[0], arg_t[1]));
      CHECK(bitwise_equal(gx_t[0], gx_t[1]));
    }
  }
}

TEST_CASE("Model::backward with input_grad = false: same parameter gradients, no gradient at the input") {
  Model m = build_zoo_model("fashion-cnn", 3);
  Rng rng(14);
  const Tensor x = random_tensor({5, 1, 28, 28}, rng, 0.0, 1.0).to(DType::F32);
  const Tape tape = m.forward({x});
  const int out = m.outputs()[0];
  const Tensor seed = random_tensor(tape.values[out].shape(), rng).to(DType::F32);
  BackwardOptions full;
  full.param_grad = ParamGrad::Accumulate;
  for (Param* p : m.params()) p->grad = Tensor();
  const auto g_full = m.backward(tape, {{out, seed}}, full);
  std::vector<Tensor> grads;
  for (Param* p : m.params()) grads.push_back(p->grad.clone()), p->grad = Tensor();
  BackwardOptions params_only = full;
  params_only.input_grad = false;
  const auto g_params = m.backward(tape, {{out, seed}}, params_only);
  const int in = m.inputs()[0];
  CHECK(g_full[in].defined());
  CHECK_FALSE(g_params[in].defined());
  size_t i = 0;
  for (Param* p : m.params()) {
    CAPTURE(p->name);
    CHECK(bitwise_equal(p->grad, grads[i++]));
  }
}
