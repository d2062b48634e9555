// Convolution epilogues fused for inference (engine/conv_epilogue.h, models/fuse_epilogues.h, issue 15):
// the fused store y = act((W ⋆ x + b) + r) has the bits of the unfused ops conv2d_forward → add → ReLU / Clip,
// in float32 and float64, on every route of the convolution (GEMM with one sample or chunks of several,
// the packed-columns GEMM, groups, depthwise, the direct few-tap kernel, a pointwise 1x1 written in place),
// odd sizes, stride 2, batch 0 and 1, with and without bias and residual (either operand order), with NaN,
// ±inf and −0 in the residual, for 1, 2 and 3 threads. Then the graph rewrite: a fused model's outputs
// equal the folded model's bit for bit, chains are fused only where their inner values have one reader,
// the fused nodes refuse a backward pass, and explain/inference_graph.h hands them only to consumers that
// never differentiate. Last, the convolution fused with the 2x2 max-pool that reads it (engine/conv_pool.h):
// the bits of the fused convolution then the forward-only pool, on every route, odd sizes (the pool drops a
// row and a column), NaN, ±inf and −0, batch 0 and 1, 1, 2 and 3 threads; in a graph, which chains take
// the pool and which keep it a node of its own.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <memory>

#include "engine/conv_epilogue.h"
#include "engine/conv_pool.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/ops_pool_values.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "explain/grad_cam.h"
#include "explain/inference_graph.h"
#include "layers/add.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/elementwise.h"
#include "layers/flatten.h"
#include "layers/global_avg_pool.h"
#include "layers/linear.h"
#include "layers/maxpool2d.h"
#include "layers/registry.h"
#include "layers/relu.h"
#include "models/fuse_epilogues.h"
#include "tests/conv_fixtures.h"
#include "tests/thread_count.h"

using namespace xdnn;

namespace {

struct Case {
  int64_t N, C, H, W, O, K, stride, pad, groups;
  const char* route;
};

ops::Conv2dGeometry geom(const Case& c) {
  ops::Conv2dGeometry g;
  g.stride_h = g.stride_w = c.stride;
  g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = c.pad;
  g.groups = c.groups;
  return g;
}

// The unfused ops, one after another.
Tensor unfused(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& r, bool r_first,
               ops::ConvActivation act, const ops::Conv2dGeometry& g) {
  Tensor y = ops::conv2d_forward(x, w, b, g);
  if (r.defined()) y = r_first ? ops::add(r, y) : ops::add(y, r);
  if (act == ops::ConvActivation::Relu) return ops::unary(ops::Unary::Relu, y);
  if (act == ops::ConvActivation::Clip) return ops::pointwise(ops::Pointwise::Clip, y, 0.0, 6.0);
  return y;
}

// Runs every case x dtype x bias (with, without) x residual (none, y + r, r + y) x activation (none, ReLU, Clip)
// through `fused` at 1, 2 and 3 threads and checks it against `reference` at 1 thread, bit for bit. The
// residual holds NaN, ±inf and −0; with `nan_in_x` the input holds a NaN too. Both callables take
// (x, w, bias, residual, residual_first, act, geometry).
template <class Reference, class Fused>
void check_every_fused_variant(const Case* cases, size_t count, uint64_t seed, bool nan_in_x,
                               const Reference& reference, const Fused& fused) {
  testing::RestoreThreadCount guard;
  Rng rng(seed);
  for (size_t k = 0; k < count; ++k) {
    const Case& c = cases[k];
    for (DType dt : {DType::F32, DType::F64}) {
      const ops::Conv2dGeometry g = geom(c);
      Tensor x = random_tensor({c.N, c.C, c.H, c.W}, rng).to(dt);
      const Tensor w = random_tensor({c.O, c.C / c.groups, c.K, c.K}, rng).to(dt);
      const Tensor b = random_tensor({c.O}, rng).to(dt);
      const Shape y_shape = ops::conv2d_output_shape(x.shape(), w.shape(), g);
      Tensor r = random_tensor(y_shape, rng, -2.0, 2.0).to(dt);
      const double specials[] = {std::numeric_limits<double>::quiet_NaN(), -0.0, INFINITY, -INFINITY, -0.0};
      for (int64_t i = 0; i < 5 && i * 7 < r.numel(); ++i) r.set_item(i * 7, specials[i]);
      if (nan_in_x && x.numel() > 40) x.set_item(40, std::numeric_limits<double>::quiet_NaN());  // a NaN patch in y
      for (bool with_bias : {true, false})
        for (int residual : {0, 1, 2})
          for (ops::ConvActivation act :
               {ops::ConvActivation::None, ops::ConvActivation::Relu, ops::ConvActivation::Clip}) {
            const Tensor bb = with_bias ? b : Tensor();
            const Tensor rr = residual ? r : Tensor();
            CAPTURE(c.route);
            CAPTURE(dtype_name(dt));
            CAPTURE(with_bias);
            CAPTURE(residual);
            CAPTURE(static_cast<int>(act));
            set_num_threads(1);
            const Tensor want = reference(x, w, bb, rr, residual == 2, act, g);
            for (int threads : {1, 2, 3}) {
              set_num_threads(threads);
              CAPTURE(threads);
              CHECK(bitwise_equal(fused(x, w, bb, rr, residual == 2, act, g), want));
            }
          }
    }
  }
}

}  // namespace

TEST_CASE("conv2d_forward_fused: the bits of conv2d_forward -> add -> ReLU / Clip on every route") {
  const Case cases[] = {
      {2, 5, 7, 9, 6, 3, 1, 1, 1, "GEMM, one chunk of the whole batch (parallel GEMM and epilogue)"},
      {20, 3, 10, 10, 5, 3, 1, 1, 1, "GEMM, 10 chunks of 2 samples (scatter epilogue)"},
      {3, 4, 41, 39, 5, 3, 1, 1, 1, "GEMM, one sample per chunk (stored in place)"},
      {2, 4, 11, 9, 33, 3, 2, 1, 1, "packed-columns GEMM, stride 2, odd sizes"},
      {2, 4, 9, 7, 6, 3, 1, 1, 2, "groups 2"},
      {3, 6, 11, 10, 6, 3, 2, 1, 6, "depthwise stride 2"},
      {2, 1, 13, 12, 8, 3, 1, 1, 1, "direct few-tap kernel"},
      {1, 8, 12, 12, 16, 1, 1, 0, 1, "pointwise 1x1, batch 1 (the GEMM writes y)"},
      {0, 4, 9, 9, 6, 3, 1, 1, 1, "batch 0"},
  };
  check_every_fused_variant(
      cases, std::size(cases), 7, false,
      [](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& r, bool r_first, ops::ConvActivation act,
         const ops::Conv2dGeometry& g) { return unfused(x, w, b, r, r_first, act, g); },
      [](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& r, bool r_first, ops::ConvActivation act,
         const ops::Conv2dGeometry& g) { return ops::conv2d_forward_fused(x, w, b, r, r_first, act, 0.0, 6.0, g); });
}

TEST_CASE("conv2d_forward_fused on the strict device: the CPU result's bits, a strict tensor") {
  Rng rng(8);
  ops::Conv2dGeometry g;
  g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = 1;
  const Tensor x = random_tensor({2, 3, 6, 5}, rng).to(DType::F32);
  const Tensor w = random_tensor({4, 3, 3, 3}, rng).to(DType::F32);
  const Tensor b = random_tensor({4}, rng).to(DType::F32);
  const Tensor r = random_tensor({2, 4, 6, 5}, rng).to(DType::F32);
  const Tensor want = ops::conv2d_forward_fused(x, w, b, r, true, ops::ConvActivation::Relu, 0, 0, g);
  const auto strict = [](const Tensor& t) { return t.to(Device::Strict); };
  const Tensor got =
      ops::conv2d_forward_fused(strict(x), strict(w), strict(b), strict(r), true, ops::ConvActivation::Relu, 0, 0, g);
  CHECK(got.device() == Device::Strict);
  CHECK(bitwise_equal(got.to(Device::CPU), want));
}

TEST_CASE("conv2d_forward_fused: a residual of another shape or dtype is one error naming it") {
  const Tensor x({1, 2, 5, 5}), w({3, 2, 3, 3});
  ops::Conv2dGeometry g;
  CHECK_THROWS_WITH_AS(
      ops::conv2d_forward_fused(x, w, Tensor(), Tensor({1, 3, 5, 5}), false, ops::ConvActivation::Relu, 0, 0, g),
      doctest::Contains("conv2d_forward_fused residual: expected shape (1, 3, 3, 3)"), Error);
  CHECK_THROWS_WITH_AS(ops::conv2d_forward_fused(x, w, Tensor(), Tensor({1, 3, 3, 3}, DType::F64), false,
                                                 ops::ConvActivation::Relu, 0, 0, g),
                       doctest::Contains("conv2d_forward_fused residual: mixed dtypes"), Error);
}

TEST_CASE("pointwise Clip (ReLU6) and its derivative: the definition's bits, NaN, +-inf, -0 and the bounds") {
  // The vectorised loops of engine/cpu/pointwise.cpp against x < lo ? lo : (x > hi ? hi : x) and
  // g * (lo < x < hi ? 1 : 0) element by element, float32 and float64, 1 and 3 threads, odd lengths.
  testing::RestoreThreadCount guard;
  Rng rng(9);
  for (DType dt : {DType::F32, DType::F64})
    for (int64_t n : {1, 37, 70001}) {
      Tensor x = random_tensor({n}, rng, -8.0, 8.0).to(dt);
      Tensor g = random_tensor({n}, rng).to(dt);
      const double specials[] = {std::numeric_limits<double>::quiet_NaN(), -0.0, 0.0, 6.0, INFINITY, -INFINITY};
      for (int64_t i = 0; i < 6 && i < n; ++i) x.set_item(i * (n / 6 + 1) % n, specials[i]);
      // Gradients that are not finite or are -0, inside and outside (lo, hi): g · 0 is NaN for ±inf.
      for (int64_t i = 0; i < 6 && i < n; ++i) g.set_item((i * (n / 7 + 3) + 1) % n, specials[(i + 3) % 6]);
      for (int threads : {1, 3}) {
        set_num_threads(threads);
        const Tensor y = ops::pointwise(ops::Pointwise::Clip, x, 0.0, 6.0);
        const Tensor gx = ops::pointwise_backward(ops::Pointwise::Clip, x, y, g, 0.0, 6.0);
        Tensor want_y(x.shape(), dt), want_g(x.shape(), dt);
        for (int64_t i = 0; i < n; ++i) {
          if (dt == DType::F32) {
            const float v = x.data<float>()[i];
            want_y.data<float>()[i] = v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
            want_g.data<float>()[i] = g.data<float>()[i] * (v > 0.0f && v < 6.0f ? 1.0f : 0.0f);
          } else {
            const double v = x.data<double>()[i];
            want_y.data<double>()[i] = v < 0.0 ? 0.0 : (v > 6.0 ? 6.0 : v);
            want_g.data<double>()[i] = g.data<double>()[i] * (v > 0.0 && v < 6.0 ? 1.0 : 0.0);
          }
        }
        CAPTURE(n);
        CAPTURE(threads);
        CHECK(bitwise_equal(y, want_y));
        CHECK(bitwise_equal(gx, want_g));
      }
    }
}

namespace {

// input (N, 3, 9, 9) -> c1 3x3 -> bn1 -> relu1                       fused: c1 + bn1 + relu1
//   -> c2 3x3 -> bn2 -> add(r1 + b2) -> relu2                          fused: c2 + bn2 + add + relu2 (r + y)
//   -> dw depthwise 3x3 stride 2 -> clip (ReLU6)                       fused: dw + clip
//   -> pw 1x1 -> add(p + d... ) with the residual a 1x1 of clip's output: pw + add fused (no activation)
//   -> c5 3x3, read by relu5 and by the output concat through gap5: not fused
//   -> relu5 -> gap -> flatten -> fc
Model small_net(Rng& rng) {
  Model m;
  m.add_input("input");
  m.add_node("c1", testing::random_conv2d("c1", 3, 4, 3, Conv2dOptions::same(1, 1), rng), {"input"}, {"y1"});
  m.add_node("bn1", testing::random_batchnorm2d("bn1", 4, rng), {"y1"}, {"b1"});
  m.add_node("relu1", std::make_shared<ReLU>(), {"b1"}, {"r1"});
  m.add_node("c2", testing::random_conv2d("c2", 4, 4, 3, Conv2dOptions::same(1, 1), rng), {"r1"}, {"y2"});
  m.add_node("bn2", testing::random_batchnorm2d("bn2", 4, rng), {"y2"}, {"b2"});
  m.add_node("add2", std::make_shared<Add>(), {"r1", "b2"}, {"s2"});
  m.add_node("relu2", std::make_shared<ReLU>(), {"s2"}, {"r2"});
  m.add_node("dw", testing::random_conv2d("dw", 4, 4, 3, Conv2dOptions::same(2, 1, 1, 4, false), rng), {"r2"}, {"y3"});
  m.add_node("clip", std::make_shared<Elementwise>(ops::Pointwise::Clip, 0.0, 6.0), {"y3"}, {"r3"});
  m.add_node("pw", testing::random_conv2d("pw", 4, 6, 1, Conv2dOptions::same(1, 0, 1, 1, false), rng), {"r3"}, {"y4"});
  m.add_node("skip", testing::random_conv2d("skip", 4, 6, 1, Conv2dOptions::same(1, 0), rng), {"r3"}, {"k4"});
  m.add_node("add4", std::make_shared<Add>(), {"y4", "k4"}, {"s4"});
  m.add_node("c5", testing::random_conv2d("c5", 6, 6, 3, Conv2dOptions::same(1, 1), rng), {"s4"}, {"y5"});
  m.add_node("relu5", std::make_shared<ReLU>(), {"y5"}, {"r5"});
  m.add_node("add5", std::make_shared<Add>(), {"r5", "y5"}, {"s5"});  // y5 read twice: c5 stays unfused
  m.add_node("gap", std::make_shared<GlobalAvgPool>(), {"s5"}, {"g"});
  m.add_node("flatten", std::make_shared<Flatten>(), {"g"}, {"f"});
  auto fc = std::make_shared<Linear>("fc", 6, 5);
  fc->init(rng);
  m.add_node("fc", fc, {"f"}, {"logits"});
  m.set_outputs({"logits"});
  return m;
}

}  // namespace

TEST_CASE("fuse_conv_epilogues_for_inference: fused chains, outputs bit for bit those of the folded graph") {
  testing::RestoreThreadCount guard;
  for (DType dt : {DType::F32, DType::F64}) {
    Rng rng(11);
    Model model = small_net(rng);  // Model copies share layers: one network per dtype
    model.to(dt);
    const Model f = fold_batchnorm_for_inference(model);
    std::vector<std::string> fused_names;
    const Model u = fuse_conv_epilogues_for_inference(f, &fused_names);
    CHECK(fused_names ==
          std::vector<std::string>{"c1 + bn1 + relu1", "c2 + bn2 + add2 + relu2", "dw + clip", "pw + add4"});
    for (int64_t N : {1, 5}) {  // batch 0: the op test above
      const Tensor x = random_tensor({N, 3, 9, 9}, rng).to(dt);
      set_num_threads(1);
      const Tape want = f.forward({x});
      for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        const Tape got = u.forward({x});
        CAPTURE(N);
        CAPTURE(threads);
        for (const char* v : {"r1", "r2", "r3", "s4", "y5", "logits"})
          CHECK(bitwise_equal(got.values[u.value_id(v)], want.values[f.value_id(v)]));
        CHECK(!got.values[u.value_id("y1")].defined());  // absorbed: no longer on the tape
      }
    }
  }
  Rng rng(12);
  const Model model = small_net(rng);
  const Model fused = fuse_conv_epilogues_for_inference(fold_batchnorm_for_inference(model));
  // The fused nodes have no backward pass; the model given to the original consumers is unchanged.
  const Tensor x = random_tensor({2, 3, 9, 9}, rng).to(DType::F32);
  const Tape tape = fused.forward({x});
  CHECK_THROWS_WITH_AS(fused.backward(tape, {{fused.outputs()[0], Tensor::full({2, 5}, 1.0)}}),
                       doctest::Contains("no backward pass"), Error);
  CHECK(model.nodes()[0].layer->kind() == std::string("Conv2d"));
  CHECK(!explain::may_fuse_epilogues("saliency"));
  CHECK(!explain::may_fuse_epilogues("grad-cam"));
  explain::Options at_layer;
  at_layer.values["layer"] = "r1";
  CHECK(!explain::may_fuse_epilogues("prediction-difference", at_layer));
  CHECK(explain::may_fuse_epilogues("run"));
  CHECK(explain::may_fuse_epilogues("occlusion"));
  const Model for_saliency = explain::inference_graph(model, "saliency");
  const Tape st = for_saliency.forward({x});
  CHECK_NOTHROW(for_saliency.backward(st, {{for_saliency.outputs()[0], Tensor::full({2, 5}, 1.0)}}));
}

TEST_CASE("grad-cam runs the chains below its layer fused: the same bits as on the unfused graph") {
  // A graph exported for a fixed batch size (exported_batch > 0) takes the unfused route (no empty-batch
  // pass), so the two routes meet on one network: every layer, fused below it or not, and the default.
  Rng rng(13);
  const Model model = fold_batchnorm_for_inference(small_net(rng));
  Model fixed = model;
  fixed.exported_batch = 3;
  explain::ExplainRequest req, req_fixed;
  req.model = &model;
  req_fixed.model = &fixed;
  req.input = req_fixed.input = random_tensor({3, 3, 9, 9}, rng).to(DType::F32);
  req.targets = req_fixed.targets = {0, 4, 2};
  CHECK_NOTHROW(model.forward({Tensor({0, 3, 9, 9})}));  // the empty batch runs: the fused route is taken
  for (const char* layer : {"", "r1", "y2", "r2", "r3", "s4", "y5", "r5", "s5"})
    for (bool upsample : {false, true}) {
      CAPTURE(layer);
      CHECK(bitwise_equal(explain::grad_cam_map(req, layer, upsample),
                          explain::grad_cam_map(req_fixed, layer, upsample)));
    }
}

namespace {

ops::Pool2dGeometry pool2x2() {
  ops::Pool2dGeometry p;
  p.kernel_h = p.kernel_w = p.stride_h = p.stride_w = 2;
  return p;
}

}  // namespace

TEST_CASE("conv2d_forward_fused_pool: the bits of conv2d_forward_fused -> maxpool2d_forward_values") {
  const Case cases[] = {
      {2, 5, 7, 9, 6, 3, 1, 1, 1, "GEMM, one chunk, output 7x9 (the pool drops a row and a column)"},
      {20, 3, 10, 11, 5, 3, 1, 1, 1, "GEMM, 10 chunks of 2 samples, output 10x11"},
      {3, 4, 41, 39, 5, 3, 1, 1, 1, "GEMM, one sample per chunk (its own scratch, not y), 41x39"},
      {2, 4, 11, 9, 33, 3, 2, 1, 1, "packed-columns GEMM, stride 2, output 6x5"},
      {2, 4, 9, 15, 6, 3, 1, 1, 2, "groups 2, pooled rows of 7 (8-lane vector spilling into the next row)"},
      {11, 6, 11, 10, 6, 3, 1, 1, 6, "depthwise, 11 samples (two blocks of the pooled store)"},
      {19, 1, 13, 17, 8, 3, 1, 1, 1, "direct few-tap kernel, 19 samples (three blocks), output 13x17"},
      {1, 8, 12, 12, 16, 1, 1, 0, 1, "pointwise 1x1, batch 1"},
      {1, 3, 2, 3, 4, 1, 1, 0, 1, "output 2x3: one pooled output per plane"},
      {0, 4, 9, 9, 6, 3, 1, 1, 1, "batch 0"},
  };
  const ops::Pool2dGeometry pool = pool2x2();
  check_every_fused_variant(
      cases, std::size(cases), 21, true,
      [&](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& r, bool r_first, ops::ConvActivation act,
          const ops::Conv2dGeometry& g) {
        REQUIRE(ops::conv2d_fused_pool_applies(x, w, b, r, g, pool));
        return ops::maxpool2d_forward_values(ops::conv2d_forward_fused(x, w, b, r, r_first, act, 0.0, 6.0, g), pool);
      },
      [&](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& r, bool r_first, ops::ConvActivation act,
          const ops::Conv2dGeometry& g) {
        return ops::conv2d_forward_fused_pool(x, w, b, r, r_first, act, 0.0, 6.0, g, pool);
      });
  // Where it does not apply: other pools, an output of one row, another device; the op then refuses in one line.
  const Tensor x({1, 2, 5, 5}), w({3, 2, 3, 3});
  ops::Conv2dGeometry g;
  ops::Pool2dGeometry p3 = pool;
  p3.kernel_h = p3.kernel_w = 3;
  ops::Pool2dGeometry stride1 = pool, padded = pool, ceil = pool;
  stride1.stride_h = stride1.stride_w = 1;
  padded.pad_top = padded.pad_left = padded.pad_bottom = padded.pad_right = 1;
  ceil.ceil_mode = true;
  CHECK(ops::conv2d_fused_pool_applies(x, w, Tensor(), Tensor(), g, pool));
  for (const ops::Pool2dGeometry& other : {p3, stride1, padded, ceil})
    CHECK(!ops::conv2d_fused_pool_applies(x, w, Tensor(), Tensor(), g, other));
  CHECK(!ops::conv2d_fused_pool_applies(Tensor({1, 2, 3, 5}), w, Tensor(), Tensor(), g, pool));
  CHECK(!ops::conv2d_fused_pool_applies(x.to(Device::Strict), w.to(Device::Strict), Tensor(), Tensor(), g, pool));
  CHECK_THROWS_WITH_AS(
      ops::conv2d_forward_fused_pool(x, w, Tensor(), Tensor(), false, ops::ConvActivation::Relu, 0, 0, g, p3),
      doctest::Contains("conv2d_forward_fused_pool: needs float32 or float64"), Error);
}

namespace {

// input (N, 2, 11, 13) -> c1 3x3 -> relu1 -> pool1 2x2              fused: c1 + relu1 + pool1
//   -> c2 3x3 -> bn2 -> relu2 -> pool2 3x3 stride 1                 fused: c2 + bn2 + relu2; pool2 its own node
//   -> c3 3x3 -> relu3, read by pool3 and by add3                    fused: c3 + relu3; pool3 its own node
//   -> c4 1x1 -> add3 (r3 + y4)                                      fused: c4 + add3
//   -> c5 1x1 (no activation) -> pool5 2x2                           not fused (nothing but the pool to fuse)
//   -> flatten -> fc
Model pooled_net(Rng& rng) {
  Model m;
  m.add_input("input");
  m.add_node("c1", testing::random_conv2d("c1", 2, 4, 3, Conv2dOptions::same(1, 1), rng), {"input"}, {"y1"});
  m.add_node("relu1", std::make_shared<ReLU>(), {"y1"}, {"r1"});
  m.add_node("pool1", std::make_shared<MaxPool2d>(2), {"r1"}, {"p1"});  // (N, 4, 5, 6)
  m.add_node("c2", testing::random_conv2d("c2", 4, 4, 3, Conv2dOptions::same(1, 1), rng), {"p1"}, {"y2"});
  m.add_node("bn2", testing::random_batchnorm2d("bn2", 4, rng), {"y2"}, {"b2"});
  m.add_node("relu2", std::make_shared<ReLU>(), {"b2"}, {"r2"});
  m.add_node("pool2", std::make_shared<MaxPool2d>(3, 1, 1), {"r2"}, {"p2"});  // (N, 4, 5, 6)
  m.add_node("c3", testing::random_conv2d("c3", 4, 4, 3, Conv2dOptions::same(1, 1), rng), {"p2"}, {"y3"});
  m.add_node("relu3", std::make_shared<ReLU>(), {"y3"}, {"r3"});
  m.add_node("pool3", std::make_shared<MaxPool2d>(2), {"r3"}, {"p3"});  // (N, 4, 2, 3)
  m.add_node("c4", testing::random_conv2d("c4", 4, 4, 1, Conv2dOptions::same(1, 0), rng), {"r3"}, {"y4"});
  m.add_node("add3", std::make_shared<Add>(), {"r3", "y4"}, {"s3"});
  m.add_node("c5", testing::random_conv2d("c5", 4, 4, 1, Conv2dOptions::same(1, 0), rng), {"s3"}, {"y5"});
  m.add_node("pool5", std::make_shared<MaxPool2d>(2), {"y5"}, {"p5"});  // (N, 4, 2, 3)
  m.add_node("flatten3", std::make_shared<Flatten>(), {"p3"}, {"f3"});
  m.add_node("flatten5", std::make_shared<Flatten>(), {"p5"}, {"f5"});
  m.add_node("sum", std::make_shared<Add>(), {"f3", "f5"}, {"f"});  // both (N, 24)
  auto fc = std::make_shared<Linear>("fc", 24, 5);
  fc->init(rng);
  m.add_node("fc", fc, {"f"}, {"logits"});
  m.set_outputs({"logits"});
  return m;
}

}  // namespace

TEST_CASE("fuse_conv_epilogues_for_inference: a 2x2 max-pool read alone joins the chain, same bits") {
  testing::RestoreThreadCount guard;
  for (DType dt : {DType::F32, DType::F64}) {
    Rng rng(23);
    Model model = pooled_net(rng);
    model.to(dt);
    const Model f = fold_batchnorm_for_inference(model);
    std::vector<std::string> fused_names;
    const Model u = fuse_conv_epilogues_for_inference(f, &fused_names);
    CHECK(fused_names == std::vector<std::string>{"c1 + relu1 + pool1", "c2 + bn2 + relu2", "c3 + relu3", "c4 + add3"});
    CHECK(u.nodes()[static_cast<size_t>(u.producer(u.value_id("p2")))].layer->kind() ==
          std::string("ForwardMaxPool2d"));
    CHECK(u.nodes()[static_cast<size_t>(u.producer(u.value_id("p3")))].layer->kind() ==
          std::string("ForwardMaxPool2d"));
    CHECK(u.nodes()[static_cast<size_t>(u.producer(u.value_id("p5")))].layer->kind() ==
          std::string("ForwardMaxPool2d"));
    for (int64_t N : {0, 1, 5}) {
      const Tensor x = random_tensor({N, 2, 11, 13}, rng).to(dt);
      set_num_threads(1);
      const Tape want = f.forward({x});
      for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        const Tape got = u.forward({x});
        CAPTURE(dtype_name(dt));
        CAPTURE(N);
        CAPTURE(threads);
        for (const char* v : {"p1", "r2", "p2", "r3", "p3", "p5", "logits"})
          CHECK(bitwise_equal(got.values[u.value_id(v)], want.values[f.value_id(v)]));
        CHECK(!got.values[u.value_id("r1")].defined());  // the full-resolution value: never stored
      }
    }
    // The strict device keeps the two steps (the CPU op refuses its tensors): the CPU's bits.
    // (Model copies share their layers: u moves to the device with it, after its CPU result.)
    const Tensor x = random_tensor({3, 2, 11, 13}, rng).to(dt);
    const Tensor want = u.forward({x}).values[u.value_id("logits")];
    Model strict = u;
    strict.to(Device::Strict);
    const Tensor got = strict.forward({x.to(Device::Strict)}).values[u.value_id("logits")];
    CHECK(got.device() == Device::Strict);
    CHECK(bitwise_equal(got.to(Device::CPU), want));
  }
}
