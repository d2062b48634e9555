// The training speed paths (issue #2) against the plain ones they replace, bit for bit:
//   - the weight gradient from a training forward's saved im2col columns (ops::conv2d_forward_keep_columns,
//     ops::conv2d_backward_weight_from_columns; Conv2d in training mode) against the one that rebuilds the
//     columns from x;
//   - the conv bias gradient (several per-sample sums side by side) against the one-chain-per-sample
//     definition.
#include <doctest/doctest.h>

#include <cstring>

#include "engine/ops.h"
#include "engine/parallel.h"
#include "layers/conv2d.h"
#include "layers/registry.h"

using namespace xdnn;

namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ac = a.clone(), bc = b.clone();
  return std::memcmp(ac.raw_data(), bc.raw_data(), static_cast<size_t>(ac.numel()) * dtype_size(ac.dtype())) == 0;
}

ops::Conv2dGeometry geometry(int64_t s, int64_t p, int64_t d = 1, int64_t groups = 1) {
  ops::Conv2dGeometry g;
  g.stride_h = g.stride_w = s;
  g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = p;
  g.dilation_h = g.dilation_w = d;
  g.groups = groups;
  return g;
}

struct ConvCase {
  const char* name;
  Shape x, w;
  ops::Conv2dGeometry g;
};

std::vector<ConvCase> conv_cases() {
  ops::Conv2dGeometry asym = geometry(2, 0, 1, 2);
  asym.stride_w = 1;
  asym.pad_top = 1, asym.pad_bottom = 2, asym.pad_right = 1;
  asym.dilation_w = 2;
  // Batches of 1, 21 and 37: one chunk (the GEMM parallel), several chunks and a short last chunk.
  return {{"fashion-cnn conv2 shape, batch 21", {21, 8, 14, 14}, {16, 8, 3, 3}, geometry(1, 1)},
          {"fashion-cnn conv1 shape, batch 1", {1, 1, 28, 28}, {8, 1, 3, 3}, geometry(1, 1)},
          {"stride 2, asymmetric padding, dilation, groups", {37, 4, 6, 5}, {6, 2, 3, 2}, asym},
          {"1x1 pointwise, groups 2", {21, 4, 3, 5}, {6, 2, 1, 1}, geometry(1, 0, 1, 2)},
          {"1x1 pointwise, batch 1", {1, 4, 3, 5}, {6, 4, 1, 1}, geometry(1, 0)}};
}

}  // namespace

TEST_CASE("conv2d saved columns: same forward and weight-gradient bits as rebuilding them; 1 vs 2 threads") {
  Rng rng(21);
  const int saved_threads = num_threads();
  for (const auto& c : conv_cases()) {
    CAPTURE(c.name);
    for (DType dt : {DType::F32, DType::F64}) {
      const Tensor x = random_tensor(c.x, rng).to(dt), w = random_tensor(c.w, rng).to(dt);
      const Tensor b = random_tensor({c.w[0]}, rng).to(dt);
      const Tensor gy = random_tensor(ops::conv2d_output_shape(c.x, c.w, c.g), rng).to(dt);
      Tensor gw_ref(c.w, dt);
      ops::conv2d_backward_weight(x, gy, gw_ref, false, c.g);
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        Tensor cols;
        const Tensor y = ops::conv2d_forward_keep_columns(x, w, b, c.g, cols);
        CHECK(same_bits(y, ops::conv2d_forward(x, w, b, c.g)));
        REQUIRE(cols.defined());
        Tensor gw(c.w, dt);
        ops::conv2d_backward_weight_from_columns(cols, c.x, gy, gw, false, c.g);
        CHECK(same_bits(gw, gw_ref));
        Tensor acc = gw_ref.clone(), acc_ref = gw_ref.clone();
        ops::conv2d_backward_weight_from_columns(cols, c.x, gy, acc, true, c.g);
        ops::conv2d_backward_weight(x, gy, acc_ref, true, c.g);
        CHECK(same_bits(acc, acc_ref));
      }
      set_num_threads(saved_threads);
    }
  }
}

TEST_CASE("conv2d saved columns: wrong columns are an error naming the expected size") {
  Rng rng(22);
  const ConvCase c = conv_cases()[0];
  const Tensor x = random_tensor(c.x, rng).to(DType::F32), w = random_tensor(c.w, rng).to(DType::F32);
  Tensor cols;
  const Tensor y = ops::conv2d_forward_keep_columns(x, w, Tensor(), c.g, cols);
  Tensor gw(c.w, DType::F32);
  Shape other = c.x;
  other[0] -= 1;
  const Tensor gy_other(ops::conv2d_output_shape(other, c.w, c.g), DType::F32);
  CHECK_THROWS_WITH_AS(ops::conv2d_backward_weight_from_columns(cols, other, gy_other, gw, false, c.g),
                       doctest::Contains("are not those of x"), Error);
  CHECK_THROWS_AS(ops::conv2d_backward_weight_from_columns(cols.to(DType::F64), c.x, y, gw, false, c.g), Error);
}

TEST_CASE("Conv2d layer: a training forward's parameter gradients equal an inference forward's, bit for bit") {
  Rng rng(23);
  for (DType dt : {DType::F32, DType::F64}) {
    Conv2d conv("conv", 8, 16, 3, 3, Conv2dOptions::same(1, 1), dt);
    conv.init(rng);
    const Tensor x = random_tensor({21, 8, 14, 14}, rng).to(dt);
    ForwardOptions train_mode;
    train_mode.training = true;
    BackwardOptions bo;
    bo.param_grad = ParamGrad::Accumulate;
    Saved s_inf, s_train;
    const Tensor y_inf = conv.forward({x}, s_inf, {})[0];
    const Tensor y_train = conv.forward({x}, s_train, train_mode)[0];
    CHECK(same_bits(y_inf, y_train));
    CHECK(s_train.tensors.size() == 2);
    CHECK(same_bits(conv.saved_input(s_train), x));
    const Tensor gy = random_tensor(y_inf.shape(), rng).to(dt);
    Tensor gx[2], gw[2], gb[2];
    const Saved* saved[2] = {&s_inf, &s_train};
    for (int k = 0; k < 2; ++k) {
      conv.weight_param().grad = Tensor();
      conv.bias_param().grad = Tensor();
      gx[k] = conv.backward({gy}, *saved[k], bo)[0];
      gw[k] = conv.weight_param().grad;
      gb[k] = conv.bias_param().grad;
    }
    CHECK(same_bits(gx[0], gx[1]));
    CHECK(same_bits(gw[0], gw[1]));
    CHECK(same_bits(gb[0], gb[1]));
  }
}

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
