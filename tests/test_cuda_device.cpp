// GPU cases beyond the per-kernel comparisons (issue 17, item 5): sizes past the grid-stride threshold,
// misaligned views, empty batches on every convolution route, im2col chunking, the fused weight + bias
// gradient, the route that actually ran, and the fashion-cnn model with two explainers on the device
// against the CPU. Each GPU case is a doctest skip without a device (tests/cuda_skip.h). The CPU half of the
// model comparison (the reference run) is also a case of its own that runs everywhere.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/random.h"
#include "explain/method.h"
#include "explain/registry.h"
#include "kernels/conv_route.h"
#include "models/zoo.h"
#include "tests/cuda_skip.h"
#include "tests/gradcheck.h"
#include "tests/random_tensors.h"

using namespace xdnn;
using testing::no_gpu;
using testing::rel_l2;

namespace {

Tensor randn(const Shape& s, Rng& rng, DType dt = DType::F32) { return random_normal(s, rng, dt); }

Tensor dev(const Tensor& t) { return t.defined() ? t.to(Device::CUDA) : t; }
Tensor host(const Tensor& t) { return t.defined() ? t.to(Device::CPU) : t; }

void agree(const Tensor& gpu, const Tensor& cpu, double tolerance, const std::string& what) {
  INFO(what);
  REQUIRE(gpu.defined());
  REQUIRE(gpu.device() == Device::CUDA);
  const Tensor h = host(gpu);
  REQUIRE(h.shape() == cpu.shape());
  CHECK(rel_l2(h, cpu) <= tolerance);
}

ops::Conv2dGeometry pad1() {
  ops::Conv2dGeometry g;
  g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = 1;
  return g;
}

// All convolution passes of (x, w, g) on the device against the CPU, under the current route setting.
void conv_passes_agree(const Tensor& x, const Tensor& w, const ops::Conv2dGeometry& g, Rng& rng, const char* what) {
  INFO(what, " x ", shape_str(x.shape()), " w ", shape_str(w.shape()));
  const Tensor b = randn({w.dim(0)}, rng, x.dtype());
  const Tensor y = ops::conv2d_forward(x, w, b, g);
  const Tensor gy = randn(y.shape(), rng, x.dtype());
  agree(ops::conv2d_forward(dev(x), dev(w), dev(b), g), y, 1e-4, "forward");
  agree(ops::conv2d_backward_input(dev(gy), dev(w), x.shape(), g), ops::conv2d_backward_input(gy, w, x.shape(), g),
        1e-4, "input gradient");
  for (bool accumulate : {false, true}) {
    Tensor gw = randn(w.shape(), rng, x.dtype()), gwd = dev(gw);
    ops::conv2d_backward_weight(x, gy, gw, accumulate, g);
    ops::conv2d_backward_weight(dev(x), dev(gy), gwd, accumulate, g);
    agree(gwd, gw, 1e-4, accumulate ? "weight gradient, accumulated" : "weight gradient");
  }
  agree(ops::conv2d_backward_weight_per_example(dev(x), dev(gy), w.shape(), g),
        ops::conv2d_backward_weight_per_example(x, gy, w.shape(), g), 1e-4, "per-example weight gradients");
}

const cuda::ConvAlgo kAlgos[] = {cuda::ConvAlgo::Auto, cuda::ConvAlgo::Im2col, cuda::ConvAlgo::Cudnn};

// Restores the route setting and the im2col buffer bound when a case ends (also on a failed REQUIRE).
struct ConvSettingsGuard {
  ~ConvSettingsGuard() {
    if constexpr (cuda::kBuilt) {
      cuda::set_conv_algo(cuda::ConvAlgo::Auto);
      cuda::set_im2col_buffer_bytes(0);
    }
  }
};

// fashion-cnn (seed 0) on `device`: logits, the input gradient and every parameter gradient of the summed
// cross-entropy, then two explainers. Everything is returned on the CPU.
struct ModelRun {
  Tensor logits, input_grad, saliency, integrated_gradients;
  std::vector<Tensor> param_grads;
};

ModelRun run_fashion_cnn(Device device) {
  Model m = build_zoo_model("fashion-cnn", 0);
  m.to(device);
  Rng rng(1701);
  Tensor x(Shape{6, 1, 28, 28}, DType::F32);
  for (int64_t i = 0; i < x.numel(); ++i) x.set_item(i, rng.uniform(0, 1));
  const Tensor labels = Tensor::from_vector({6}, std::vector<int64_t>{0, 3, 9, 1, 1, 7});
  const Tensor xd = x.to(device);
  const Tape tape = m.forward({xd});
  ModelRun r;
  const Tensor logits = tape.values[m.outputs()[0]];
  r.logits = host(logits);
  BackwardOptions opt;
  opt.param_grad = ParamGrad::Accumulate;
  const Tensor seed = ops::cross_entropy_backward(logits, labels.to(device), 1.0);
  const std::vector<Tensor> grads = m.backward(tape, {{m.outputs()[0], seed}}, opt);
  r.input_grad = host(grads[m.inputs()[0]]);
  for (Param* p : m.params()) r.param_grads.push_back(host(p->grad));
  for (const char* name : {"saliency", "integrated-gradients"}) {
    const explain::MethodInfo& method = explain::find_method(name);
    explain::ExplainRequest req;
    req.model = &m;
    req.input = xd;
    req.targets = {0, 3, 9, 1, 1, 7};
    req.options = explain::resolve_options(method, {});
    (std::string(name) == "saliency" ? r.saliency : r.integrated_gradients) = host(method.run(req).values);
  }
  return r;
}

}  // namespace

TEST_CASE("cuda device: the CPU half of the fashion-cnn comparison runs and repeats bit for bit") {
  const ModelRun a = run_fashion_cnn(Device::CPU), b = run_fashion_cnn(Device::CPU);
  CHECK(bitwise_equal(a.logits, b.logits));
  CHECK(bitwise_equal(a.input_grad, b.input_grad));
  CHECK(bitwise_equal(a.saliency, b.saliency));
  CHECK(bitwise_equal(a.integrated_gradients, b.integrated_gradients));
  REQUIRE(a.param_grads.size() == b.param_grads.size());
  CHECK(a.param_grads.size() >= 4);
  for (size_t i = 0; i < a.param_grads.size(); ++i) CHECK(bitwise_equal(a.param_grads[i], b.param_grads[i]));
}

TEST_CASE("cuda device: fashion-cnn forward, backward, saliency and IG on both conv routes" * doctest::skip(no_gpu())) {
  if constexpr (cuda::kBuilt) {
    ConvSettingsGuard guard;
    const ModelRun cpu = run_fashion_cnn(Device::CPU);
    for (cuda::ConvAlgo algo : {cuda::ConvAlgo::Auto, cuda::ConvAlgo::Im2col}) {
      cuda::set_conv_algo(algo);
      INFO("route setting ", static_cast<int>(algo));
      const ModelRun gpu = run_fashion_cnn(Device::CUDA);
      CHECK(rel_l2(gpu.logits, cpu.logits) <= 1e-4);
      CHECK(rel_l2(gpu.input_grad, cpu.input_grad) <= 1e-4);
      CHECK(rel_l2(gpu.saliency, cpu.saliency) <= 1e-4);
      CHECK(rel_l2(gpu.integrated_gradients, cpu.integrated_gradients) <= 1e-4);
      REQUIRE(gpu.param_grads.size() == cpu.param_grads.size());
      for (size_t i = 0; i < cpu.param_grads.size(); ++i) CHECK(rel_l2(gpu.param_grads[i], cpu.param_grads[i]) <= 1e-4);
    }
  }
}

TEST_CASE("cuda device: sizes past the grid-stride threshold (5M elements)" * doctest::skip(no_gpu())) {
  // kMaxBlocks * kBlock = 1,048,576 threads: 5,000,003 elements make every thread loop about 5 times.
  Rng rng(1702);
  const Tensor a = randn({5000003}, rng), b = randn({5000003}, rng);
  const Tensor ad = dev(a), bd = dev(b);
  CHECK(bitwise_equal(host(ops::add(ad, bd)), ops::add(a, b)));
  CHECK(bitwise_equal(host(ops::scale(ad, 0.5)), ops::scale(a, 0.5)));
  agree(ops::unary(ops::Unary::Exp, ad), ops::unary(ops::Unary::Exp, a), 1e-5, "exp");
  CHECK(ops::sum_all(ad) == doctest::Approx(ops::sum_all(a)).epsilon(1e-4));
  const Tensor m = randn({1001, 5003}, rng);  // 5M elements through a strided kernel
  CHECK(bitwise_equal(host(ops::transpose_axes(dev(m), {1, 0})), ops::transpose_axes(m, {1, 0})));
}

TEST_CASE("cuda device: misaligned views (odd element offsets) in element-wise ops, matmul and conv" *
          doctest::skip(no_gpu())) {
  ConvSettingsGuard guard;
  Rng rng(1703);
  const Tensor big = randn({5, 3, 7, 7}, rng);
  const Tensor view_cpu = big.slice_batch(1, 4);  // starts 147 floats (588 bytes) in: not 16-byte aligned
  const Tensor view_gpu = dev(big).slice_batch(1, 4);
  CHECK(bitwise_equal(host(ops::add(view_gpu, view_gpu)), ops::add(view_cpu, view_cpu)));
  const Tensor w = randn({4, 3, 3, 3}, rng);
  if constexpr (cuda::kBuilt)
    for (cuda::ConvAlgo algo : kAlgos) {
      cuda::set_conv_algo(algo);
      agree(ops::conv2d_forward(view_gpu, dev(w), Tensor(), pad1()), ops::conv2d_forward(view_cpu, w, Tensor(), pad1()),
            1e-4, "conv on a view");
    }
  const Tensor rows = randn({7, 13}, rng), rhs = randn({13, 5}, rng);
  agree(ops::matmul(dev(rows).slice_batch(3, 6), dev(rhs)), ops::matmul(rows.slice_batch(3, 6), rhs), 1e-4,
        "matmul on a view");
}

TEST_CASE("cuda device: empty batches on every conv route" * doctest::skip(no_gpu())) {
  if constexpr (cuda::kBuilt) {
    ConvSettingsGuard guard;
    Rng rng(1704);
    const Tensor x(Shape{0, 3, 9, 9}, DType::F32), w = randn({4, 3, 3, 3}, rng);
    for (cuda::ConvAlgo algo : kAlgos) {
      cuda::set_conv_algo(algo);
      const cuda::ConvRouteCounts before = cuda::conv_route_counts();
      conv_passes_agree(x, w, pad1(), rng, "empty batch");
      CHECK(host(ops::conv2d_backward_bias(dev(Tensor(Shape{0, 4, 9, 9}, DType::F32)), false)).shape() == Shape{4});
      const cuda::ConvRouteCounts after = cuda::conv_route_counts();
      for (int p = 0; p < 3; ++p) CHECK(after.cudnn[p] == before.cudnn[p]);  // cuDNN is never asked about N = 0
    }
  }
}

TEST_CASE("cuda device: im2col chunking past its buffer limit" * doctest::skip(no_gpu())) {
  if constexpr (cuda::kBuilt) {
    ConvSettingsGuard guard;
    Rng rng(1705);
    cuda::set_conv_algo(cuda::ConvAlgo::Im2col);
    const Tensor x = randn({7, 3, 10, 10}, rng), w = randn({4, 3, 3, 3}, rng);
    // One sample's columns: 27 x 100 floats = 10,800 bytes. 4,096: one sample a chunk (below one sample
    // too); 25,000: chunks of 2, 2, 2, 1; then a grouped strided case in uneven chunks.
    for (size_t bytes : {size_t(4096), size_t(25000)}) {
      cuda::set_im2col_buffer_bytes(bytes);
      conv_passes_agree(x, w, pad1(), rng, "chunked");
    }
    ops::Conv2dGeometry g = pad1();
    g.stride_h = 2, g.groups = 3;
    cuda::set_im2col_buffer_bytes(25000);  // 11,664 bytes a sample: chunks of 2, 2, 1
    conv_passes_agree(randn({5, 6, 11, 9}, rng), randn({6, 2, 3, 3}, rng), g, rng, "chunked, grouped");
  }
}

TEST_CASE("cuda device: conv2d_backward_weight_bias vs the CPU" * doctest::skip(no_gpu())) {
  ConvSettingsGuard guard;
  Rng rng(1706);
  const Tensor x = randn({4, 3, 8, 8}, rng), w = randn({5, 3, 3, 3}, rng);
  const Tensor gy = randn(ops::conv2d_output_shape(x.shape(), w.shape(), pad1()), rng);
  for (bool accumulate : {false, true}) {
    INFO("accumulate ", accumulate);
    Tensor gw = randn(w.shape(), rng), gb = randn({5}, rng);
    Tensor gwd = dev(gw), gbd = dev(gb);
    ops::conv2d_backward_weight_bias(x, gy, gw, accumulate, gb, pad1());
    ops::conv2d_backward_weight_bias(dev(x), dev(gy), gwd, accumulate, gbd, pad1());
    agree(gwd, gw, 1e-4, "weight gradient");
    agree(gbd, gb, 1e-5, "bias gradient (always added)");
  }
}

TEST_CASE("cuda device: the record of which convolution route ran" * doctest::skip(no_gpu())) {
  if constexpr (cuda::kBuilt) {
    ConvSettingsGuard guard;
    Rng rng(1707);
    const Tensor x = dev(randn({2, 3, 8, 8}, rng)), w = dev(randn({4, 3, 3, 3}, rng));
    const auto forward_once = [&](const ops::Conv2dGeometry& g) {
      const cuda::ConvRouteCounts before = cuda::conv_route_counts();
      ops::conv2d_forward(x, w, Tensor(), g);
      const cuda::ConvRouteCounts after = cuda::conv_route_counts();
      CHECK(after.cudnn[0] + after.im2col[0] == before.cudnn[0] + before.im2col[0] + 1);  // one route, counted once
      return after.cudnn[0] > before.cudnn[0] ? cuda::ConvRoute::Cudnn : cuda::ConvRoute::Im2col;
    };
    cuda::set_conv_algo(cuda::ConvAlgo::Im2col);
    CHECK(forward_once(pad1()) == cuda::ConvRoute::Im2col);
    cuda::set_conv_algo(cuda::ConvAlgo::Auto);
    ops::Conv2dGeometry asym = pad1();
    asym.pad_bottom = 0;
    CHECK(forward_once(asym) == cuda::ConvRoute::Im2col);
    // With cuDNN loadable, a plain 3x3 convolution runs on it (the route this test exists to record).
    const bool cudnn_loads = cuda::library_versions().find("cuDNN is not available") == std::string::npos;
    const cuda::ConvRoute r = forward_once(pad1());
    MESSAGE("3x3 forward under auto ran on " << (r == cuda::ConvRoute::Cudnn ? "cuDNN" : "im2col"));
    if (cudnn_loads) CHECK(r == cuda::ConvRoute::Cudnn);
  }
}
