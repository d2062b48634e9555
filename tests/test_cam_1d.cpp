// Grad-CAM and CAM on 1-D feature maps (N, C, L), as Captum's LayerGradCam handles them (gradients
// averaged over every axis after the channel axis): Grad-CAM = ReLU(CAM) / L on a global-average-pooling
// network, the 1-D maps equal the 2-D ones of the same network run on (N, C, 1, L), the default layer is
// the last 1-D convolutional feature map, and --upsample resizes linearly to the input's length.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "engine/ops.h"
#include "explain/grad_cam.h"
#include "explain/registry.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/global_avg_pool.h"
#include "layers/linear.h"
#include "layers/registry.h"
#include "layers/relu.h"
#include "models/model.h"
#include "tests/explain_run.h"
#include "tests/gradcheck.h"

using namespace xdnn;
using namespace xdnn::explain;

namespace {

// x (N, 2, L) -> Conv 1-D (2 -> 3, width 3, padding 1, stride s) -> ReLU -> GlobalAvgPool -> Flatten
// -> Linear(3, 4). The same weights for every seed; `image` runs it on (N, 2, 1, L) instead.
Model conv1d_gap_net(int64_t stride) {
  Rng rng(21);
  Conv2dOptions o;
  o.stride_w = stride;
  o.pad_left = o.pad_right = 1;
  auto conv = std::make_shared<Conv2d>("conv1", 2, 3, 1, 3, o, DType::F64);
  conv->init(rng);
  auto fc = std::make_shared<Linear>("fc", 3, 4, true, DType::F64);
  fc->init(rng);
  Model m;
  m.add_input("x");
  m.append("conv1", conv);
  m.append("relu1", std::make_shared<ReLU>());
  m.append("gap", std::make_shared<GlobalAvgPool>());
  m.append("flat", std::make_shared<Flatten>());
  m.append("fc", fc);
  m.to(DType::F64);
  return m;
}

using testing::run;

}  // namespace

TEST_CASE("Grad-CAM and CAM on 1-D (N, C, L) activations: ReLU(CAM)/L, equal to the (N, C, 1, L) maps") {
  const Model m = conv1d_gap_net(1);
  Rng rng(22);
  const Tensor x = random_tensor({3, 2, 9}, rng, -1.0, 1.0);
  const std::vector<int64_t> t{0, 3, 1};
  CHECK(default_cam_layer(m, x) == "relu1");  // the last 1-D convolutional feature map
  const Tensor gc = run("grad-cam", m, x, t).values, cam = run("cam", m, x, t).values;
  REQUIRE(gc.shape() == Shape{3, 1, 9});
  REQUIRE(cam.shape() == Shape{3, 1, 9});
  const Tensor expect = ops::scale(ops::unary(ops::Unary::Relu, cam), 1.0 / 9.0);
  CHECK(testing::max_rel_diff(gc, expect) < 1e-12);
  CHECK(ops::dot_all(cam, cam) > 0);
  // The same network on (N, 2, 1, 9) images gives (N, 1, 1, 9) maps with the same values.
  const Tensor x4 = x.reshape({3, 2, 1, 9});
  const Tensor gc4 = run("grad-cam", m, x4, t).values, cam4 = run("cam", m, x4, t).values;
  REQUIRE(gc4.shape() == Shape{3, 1, 1, 9});
  CHECK(testing::max_rel_diff(gc4.reshape({3, 1, 9}), gc) < 1e-15);
  CHECK(testing::max_rel_diff(cam4.reshape({3, 1, 9}), cam) < 1e-15);
  // --upsample to the input's own length is the identity.
  CHECK(testing::max_rel_diff(run("grad-cam", m, x, t, {{"upsample", "true"}}).values, gc) < 1e-15);
}

TEST_CASE("Grad-CAM --upsample on a strided 1-D map: linear interpolation with half-pixel centres") {
  const Model m = conv1d_gap_net(2);  // L = 9 -> 5 positions
  Rng rng(23);
  const Tensor x = random_tensor({2, 2, 9}, rng, -1.0, 1.0);
  const Tensor gc = run("grad-cam", m, x, {1, 2}).values;
  REQUIRE(gc.shape() == Shape{2, 1, 5});
  const Tensor up = run("grad-cam", m, x, {1, 2}, {{"upsample", "true"}}).values;
  REQUIRE(up.shape() == Shape{2, 1, 9});
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t i = 0; i < 9; ++i) {
      // PyTorch interpolate(mode='linear', align_corners=False): s = (i + 1/2)·5/9 − 1/2, clamped at 0.
      const double s = std::max((i + 0.5) * 5.0 / 9.0 - 0.5, 0.0);
      const int64_t i0 = static_cast<int64_t>(std::floor(s)), i1 = std::min<int64_t>(i0 + 1, 4);
      const double l = s - static_cast<double>(i0);
      const double want = (1 - l) * gc.item(n * 5 + i0) + l * gc.item(n * 5 + i1);
      CHECK(up.item(n * 9 + i) == doctest::Approx(want).epsilon(1e-14));
    }
  // A 2-D map cannot be resized to a 1-D input, nor the other way: one-line errors.
  CHECK_THROWS_AS(upsample_map(gc.reshape({2, 1, 1, 5}), x, "grad-cam"), Error);
  CHECK_THROWS_AS(upsample_map(gc, x.reshape({2, 2, 1, 9}), "grad-cam"), Error);
}
