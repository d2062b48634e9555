// Max pooling in the forward-only graph (engine/ops_pool_values.h, models/fuse_epilogues.h): the maxima
// without arg-max indices or tap codes have the bits of the routes that keep them (the general
// maxpool2d_forward and, for float32, the tap-code forward), in float32 and float64, for odd sizes, rows of
// 1..34 outputs (every vector layout), batch 0, ties, NaN, ±inf and −0, for 1, 2 and 3 threads. In a
// model, every MaxPool2d geometry (padding, stride 1 and 2, ceil_mode, 3x3) gives the unfused model's
// outputs, and the forward-only node refuses a backward and a training pass.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <memory>

#include "engine/error.h"
#include "engine/ops.h"
#include "engine/ops_pool_values.h"
#include "engine/parallel.h"
#include "engine/random.h"
#include "explain/inference_graph.h"
#include "layers/maxpool2d.h"
#include "models/fuse_epilogues.h"
#include "tests/thread_count.h"

using namespace xdnn;

namespace {

// Values on a coarse grid (many ties) with NaN, ±inf, +0 and −0 sprinkled in.
Tensor tricky_tensor(const Shape& shape, Rng& rng, DType dt) {
  Tensor t = Tensor::empty(shape, DType::F64);
  double* p = t.data<double>();
  const double inf = std::numeric_limits<double>::infinity();
  const double special[] = {std::nan(""), inf, -inf, 0.0, -0.0};
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double u = rng.uniform();
    p[i] = u < 0.1 ? special[static_cast<int>(rng.uniform() * 5) % 5] : std::round(rng.uniform() * 8 - 4) / 2;
  }
  return t.to(dt);
}

ops::Pool2dGeometry pool(int64_t k, int64_t s, int64_t p, bool ceil_mode = false) {
  ops::Pool2dGeometry g;
  g.kernel_h = g.kernel_w = k;
  g.stride_h = g.stride_w = s;
  g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = p;
  g.ceil_mode = ceil_mode;
  return g;
}

}  // namespace

TEST_CASE("maxpool2d_forward_values: the maxima of the arg-max and tap-code routes, bit for bit") {
  testing::RestoreThreadCount guard;
  const ops::Pool2dGeometry g = pool(2, 2, 0);
  // (H, W): output rows of 1..3 outputs (scalar), 4..7 (one spilling 8-lane vector, or two 4-lane ones on
  // the last row), 8, 9, 14, 34 (beyond the tap codes' 32), odd heights and widths.
  const int64_t sizes[][2] = {{2, 2}, {3, 5},  {5, 7},  {4, 8},   {7, 11}, {6, 15},
                              {2, 9}, {9, 16}, {5, 19}, {28, 28}, {3, 68}};
  Rng rng(5);
  for (DType dt : {DType::F32, DType::F64})
    for (const auto& hw : sizes)
      for (int64_t N : {0, 1, 3}) {
        const Tensor x = tricky_tensor({N, 3, hw[0], hw[1]}, rng, dt);
        REQUIRE(ops::maxpool2d_values_apply(x, g));
        Tensor argmax, codes;
        set_num_threads(1);
        const Tensor want = ops::maxpool2d_forward(x, g, argmax);
        for (int threads : {1, 2, 3}) {
          set_num_threads(threads);
          CAPTURE(hw[0]);
          CAPTURE(hw[1]);
          CAPTURE(N);
          CAPTURE(threads);
          const Tensor got = ops::maxpool2d_forward_values(x, g);
          CHECK(bitwise_equal(got, want));
          if (ops::maxpool2d_tap_codes_apply(x, g))
            CHECK(bitwise_equal(got, ops::maxpool2d_forward_tap_codes(x, g, codes)));
        }
      }
  // Other windows, dtypes and ranks are not taken (MaxPool2d's own forward runs them).
  const Tensor x = tricky_tensor({1, 2, 6, 6}, rng, DType::F32);
  CHECK(!ops::maxpool2d_values_apply(x, pool(3, 2, 1)));
  CHECK(!ops::maxpool2d_values_apply(x, pool(2, 1, 0)));
  CHECK(!ops::maxpool2d_values_apply(x, pool(2, 2, 0, true)));
  CHECK(!ops::maxpool2d_values_apply(x.to(DType::I64), g));
  CHECK(!ops::maxpool2d_values_apply(tricky_tensor({1, 2, 1, 6}, rng, DType::F32), g));
  CHECK_THROWS_WITH_AS(ops::maxpool2d_forward_values(x, pool(3, 2, 1)), doctest::Contains("2x2"), Error);
}

TEST_CASE("fuse_conv_epilogues_for_inference: max-pools of every geometry run forward-only, same bits") {
  testing::RestoreThreadCount guard;
  // input -> five max-pools, each a model output: 2x2 (values op), 3x3 stride 2 pad 1 (ResNet's stem),
  // 2x2 stride 1, 3x3 stride 1 pad 1, 2x2 stride 2 ceil_mode (MaxPool2d's own forward).
  Model m;
  m.add_input("input");
  const ops::Pool2dGeometry geometries[] = {pool(2, 2, 0), pool(3, 2, 1), pool(2, 1, 0), pool(3, 1, 1),
                                            pool(2, 2, 0, true)};
  const std::vector<std::string> outputs = {"p0", "p1", "p2", "p3", "p4"};
  for (int k = 0; k < 5; ++k) {
    m.add_node(outputs[k], std::make_shared<MaxPool2d>(geometries[k]), {"input"}, {outputs[k]});
  }
  m.set_outputs(outputs);
  const Model fused = fuse_conv_epilogues_for_inference(m);
  for (int k = 0; k < 5; ++k) {
    CHECK(fused.nodes()[k].layer->kind() == std::string("ForwardMaxPool2d"));
    CHECK(m.nodes()[k].layer->kind() == std::string("MaxPool2d"));  // the original is unchanged
  }
  Rng rng(6);
  for (DType dt : {DType::F32, DType::F64})
    for (const Shape& shape : {Shape{2, 3, 9, 9}, Shape{1, 2, 8, 14}, Shape{3, 1, 7, 20}}) {
      const Tensor x = tricky_tensor(shape, rng, dt);
      set_num_threads(1);
      const Tape want = m.forward({x});
      for (int threads : {1, 2, 3}) {
        set_num_threads(threads);
        const Tape got = fused.forward({x});
        for (const std::string& v : outputs) {
          CAPTURE(v);
          CAPTURE(threads);
          CHECK(bitwise_equal(got.values[fused.value_id(v)], want.values[m.value_id(v)]));
        }
      }
    }
  const Tensor x = tricky_tensor({2, 3, 8, 8}, rng, DType::F32);
  const Tape tape = fused.forward({x});
  CHECK_THROWS_WITH_AS(fused.backward(tape, {{fused.outputs()[0], Tensor::full({2, 3, 4, 4}, 1.0)}}),
                       doctest::Contains("no backward pass"), Error);
  Saved saved;
  ForwardOptions training;
  training.training = true;
  CHECK_THROWS_WITH_AS(fused.nodes()[0].layer->forward({x}, saved, training), doctest::Contains("training"), Error);
  // `run` gets the forward-only max-pools, saliency (a gradient) the model's own.
  CHECK(explain::inference_graph(m, "run").nodes()[0].layer->kind() == std::string("ForwardMaxPool2d"));
  CHECK(explain::inference_graph(m, "saliency").nodes()[0].layer->kind() == std::string("MaxPool2d"));
}
