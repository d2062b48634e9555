// Device::Strict (issue 17, item 3): host memory that host code may not read. Its ops are the CPU
// implementations reached through the same dispatch as CUDA (engine/strict_backend.h), so every op must
// give the CPU's bits; any data<T>() / item / set_item on a strict tensor throws naming the caller. What
// runs on Strict computes only through ops:: and would run on a GPU.
//
// The last case runs each registered layer's passes on Strict (issue 17, items 2 and 4): every one of them
// must run there and equal the CPU bit for bit (the work list that named the layers still reading host
// memory is empty since engine/ops_onnx.h, and was deleted).
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/ops.h"
#include "engine/ops_fill.h"
#include "engine/random.h"
#include "layers/registry.h"
#include "models/model.h"
#include "models/zoo.h"
#include "tests/random_tensors.h"

using namespace xdnn;

namespace {

Tensor randn(const Shape& s, Rng& rng, DType dt = DType::F32) { return random_normal(s, rng, dt); }
Tensor strict(const Tensor& t) { return t.defined() ? t.to(Device::Strict) : t; }
Tensor host(const Tensor& t) { return t.defined() ? t.to(Device::CPU) : t; }

// The strict result is a strict tensor with the CPU result's bits.
void same(const Tensor& on_strict, const Tensor& on_cpu, const char* what) {
  INFO(what);
  REQUIRE(on_strict.defined() == on_cpu.defined());
  if (!on_cpu.defined()) return;
  CHECK(on_strict.device() == Device::Strict);
  CHECK(bitwise_equal(host(on_strict), on_cpu));
}
void same(const std::vector<Tensor>& on_strict, const std::vector<Tensor>& on_cpu, const char* what) {
  REQUIRE(on_strict.size() == on_cpu.size());
  for (size_t i = 0; i < on_cpu.size(); ++i) same(on_strict[i], on_cpu[i], what);
}

}  // namespace

TEST_CASE("strict device: host access throws naming the accessor and the caller; to() copies both ways") {
  Rng rng(1);
  const Tensor x = randn({2, 3}, rng);
  Tensor s = strict(x);
  CHECK(s.device() == Device::Strict);
  CHECK(s.describe() == "float32 (2, 3) on strict");
  CHECK_THROWS_WITH_AS(
      s.data<float>(),
      doctest::Contains("data() on strict tensor float32 (2, 3) on strict at tests/test_strict_device.cpp:"), Error);
  CHECK_THROWS_WITH_AS(s.item(1), doctest::Contains("item() on strict tensor"), Error);
  CHECK_THROWS_WITH_AS(s.set_item(1, 2.0), doctest::Contains("set_item() on strict tensor"), Error);
  CHECK_THROWS_WITH_AS(s.raw_data(), doctest::Contains("raw_data() on strict tensor"), Error);
  CHECK_THROWS_WITH_AS(s.item(0), doctest::Contains("test_strict_device.cpp:"), Error);
  CHECK(bitwise_equal(host(s), x));
  CHECK(host(s).data<float>() != x.data<float>());  // a copy, not the same memory
  s.fill(0.5);
  CHECK(host(s).item(5) == 0.5);
  CHECK(bitwise_equal(host(s.clone()), host(s)));
  // Tensor::to(DType) converts on the device (Backend::cast): every pair of dtypes, the CPU's bits.
  const Tensor ids = Tensor::from_vector({4}, std::vector<int64_t>{-3, 0, (int64_t{1} << 53) + 1, 7});
  for (const Tensor& t : {x, x.to(DType::F64), ids})
    for (DType d : {DType::F32, DType::F64, DType::I64}) {
      const Tensor on_strict = strict(t).to(d);
      CHECK(on_strict.device() == Device::Strict);
      CHECK(bitwise_equal(host(on_strict), t.to(d)));
    }
  // Mixed devices: one line naming both operands.
  CHECK_THROWS_WITH_AS(
      ops::add(strict(x), x),
      doctest::Contains("binary: operands on two devices, float32 (2, 3) on strict and float32 (2, 3) on cpu"), Error);
}

TEST_CASE("strict device: every op of engine/ops.h gives the CPU's bits") {
  Rng rng(2);
  const Tensor a = randn({3, 4}, rng), b = randn({4, 5}, rng), row = randn({1, 4}, rng), c0 = randn({3, 5}, rng);
  const Tensor sa = strict(a);
  same(ops::matmul(sa, strict(b)), ops::matmul(a, b), "matmul");
  Tensor c = c0.clone(), sc = strict(c0);
  ops::matmul_into(sa, strict(b), sc, false, false, 0.5, 2.0);
  ops::matmul_into(a, b, c, false, false, 0.5, 2.0);
  same(sc, c, "matmul_into");
  const Tensor a3 = randn({2, 3, 4}, rng), b3 = randn({2, 5, 4}, rng);
  same(ops::batched_matmul(strict(a3), strict(b3), false, true), ops::batched_matmul(a3, b3, false, true), "bmm");
  for (int op = 0; op <= static_cast<int>(ops::Unary::Step); ++op)
    same(ops::unary(static_cast<ops::Unary>(op), sa), ops::unary(static_cast<ops::Unary>(op), a), "unary");
  for (int op = 0; op <= static_cast<int>(ops::Binary::Min); ++op)
    same(ops::binary(static_cast<ops::Binary>(op), sa, strict(row)), ops::binary(static_cast<ops::Binary>(op), a, row),
         "binary, broadcast");
  same(ops::sum_to_shape(sa, {1, 4}), ops::sum_to_shape(a, {1, 4}), "sum_to_shape");
  same(ops::scale(sa, 0.3), ops::scale(a, 0.3), "scale");
  same(ops::add_scalar(sa, 0.3), ops::add_scalar(a, 0.3), "add_scalar");
  Tensor y = a.clone(), sy = strict(a);
  ops::axpy_inplace(sy, 0.7, sa);
  ops::axpy_inplace(y, 0.7, a);
  same(sy, y, "axpy_inplace");
  same(ops::stabilize(sa, 1e-3), ops::stabilize(a, 1e-3), "stabilize");
  same(ops::clip(sa, -0.5, 0.5), ops::clip(a, -0.5, 0.5), "clip");
  CHECK(ops::sum_all(sa) == ops::sum_all(a));
  for (DType dt : {DType::F32, DType::F64, DType::I64})
    same(ops::full({2, 3}, -2.5 * (dt != DType::I64) + 7, dt, Device::Strict),
         Tensor::full({2, 3}, -2.5 * (dt != DType::I64) + 7, dt), "full");
  CHECK(bitwise_equal(ops::full({4}, 0.1, DType::F32, Device::CPU),
                      Tensor::from_vector({4}, std::vector<float>(4, 0.1f))));
  CHECK(ops::dot_all(sa, sa) == ops::dot_all(a, a));

  // Convolution, pooling, batch norm.
  const Tensor x = randn({2, 3, 7, 7}, rng), w = randn({4, 3, 3, 3}, rng), bias = randn({4}, rng);
  ops::Conv2dGeometry g;
  g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = 1;
  g.stride_h = 2;
  const Tensor sx = strict(x), sw = strict(w);
  const Tensor yc = ops::conv2d_forward(x, w, bias, g);
  same(ops::conv2d_forward(sx, sw, strict(bias), g), yc, "conv2d_forward");
  const Tensor gy = randn(yc.shape(), rng), sgy = strict(gy);
  same(ops::conv2d_backward_input(sgy, sw, x.shape(), g), ops::conv2d_backward_input(gy, w, x.shape(), g), "conv dx");
  Tensor gw = randn(w.shape(), rng), sgw = strict(gw), gb = randn({4}, rng), sgb = strict(gb);
  ops::conv2d_backward_weight(sx, sgy, sgw, true, g);
  ops::conv2d_backward_weight(x, gy, gw, true, g);
  same(sgw, gw, "conv dw");
  ops::conv2d_backward_weight_bias(sx, sgy, sgw, false, sgb, g);
  ops::conv2d_backward_weight_bias(x, gy, gw, false, gb, g);
  same(sgw, gw, "conv dw (fused)");
  same(sgb, gb, "conv db (fused)");
  same(ops::conv2d_backward_weight_per_example(sx, sgy, w.shape(), g),
       ops::conv2d_backward_weight_per_example(x, gy, w.shape(), g), "conv dw per example");
  same(ops::conv2d_backward_bias(sgy, true), ops::conv2d_backward_bias(gy, true), "conv db");
  ops::Pool2dGeometry p;
  p.kernel_h = p.kernel_w = 3;
  p.stride_h = p.stride_w = 2;
  p.pad_top = p.pad_left = 1;
  Tensor arg, sarg;
  const Tensor yp = ops::maxpool2d_forward(x, p, arg);
  same(ops::maxpool2d_forward(sx, p, sarg), yp, "maxpool forward");
  same(sarg, arg, "maxpool argmax");
  const Tensor gp = randn(yp.shape(), rng);
  same(ops::maxpool2d_backward(strict(gp), sarg, x.shape()), ops::maxpool2d_backward(gp, arg, x.shape()), "maxpool dx");
  CHECK_FALSE(ops::maxpool2d_tap_codes_apply(sx, p));  // the CPU-only training path, as on CUDA
  for (ops::PoolDivisor d :
       {ops::PoolDivisor::Sum, ops::PoolDivisor::WindowIncludingPad, ops::PoolDivisor::WindowExcludingPad}) {
    same(ops::avgpool2d_forward(sx, p, d), ops::avgpool2d_forward(x, p, d), "avgpool forward");
    same(ops::avgpool2d_backward(strict(gp), x.shape(), p, d), ops::avgpool2d_backward(gp, x.shape(), p, d),
         "avgpool dx");
  }
  const std::vector<Tensor> st = ops::batchnorm_stats(x);
  same(ops::batchnorm_stats(sx), st, "batchnorm_stats");
  const Tensor gamma = randn({3}, rng), beta = randn({3}, rng);
  same(ops::batchnorm_forward(sx, strict(st[0]), strict(st[1]), strict(gamma), strict(beta), 1e-5),
       ops::batchnorm_forward(x, st[0], st[1], gamma, beta, 1e-5), "batchnorm_forward");
  const Tensor gx = randn(x.shape(), rng);
  for (bool per_example : {false, true})
    same(ops::batchnorm_backward(strict(gx), sx, strict(st[0]), strict(st[1]), strict(gamma), 1e-5, true, per_example),
         ops::batchnorm_backward(gx, x, st[0], st[1], gamma, 1e-5, true, per_example), "batchnorm_backward");

  // Activations, softmax, cross-entropy.
  const Tensor ga = randn(a.shape(), rng), sga = strict(ga);
  same(ops::leaky_relu(sa, 0.1), ops::leaky_relu(a, 0.1), "leaky_relu");
  same(ops::leaky_relu_backward(sa, sga, 0.1, true), ops::leaky_relu_backward(a, ga, 0.1, true), "leaky_relu dx");
  Tensor mask, smask;
  same(ops::relu_with_mask(sa, smask), ops::relu_with_mask(a, mask), "relu_with_mask");
  same(smask, mask, "relu mask");
  same(ops::relu_backward_mask(smask, sga, false), ops::relu_backward_mask(mask, ga, false), "relu_backward_mask");
  same(ops::sigmoid_backward(sa, sga), ops::sigmoid_backward(a, ga), "sigmoid_backward");
  same(ops::tanh_backward(sa, sga), ops::tanh_backward(a, ga), "tanh_backward");
  same(ops::softmax(sa, 1), ops::softmax(a, 1), "softmax");
  same(ops::log_softmax(sa, 0), ops::log_softmax(a, 0), "log_softmax");
  same(ops::softmax_backward(sa, sga, 1), ops::softmax_backward(a, ga, 1), "softmax_backward");
  same(ops::log_softmax_backward(sa, sga, 1), ops::log_softmax_backward(a, ga, 1), "log_softmax_backward");
  const Tensor labels = Tensor::from_vector({3}, std::vector<int64_t>{0, 3, 1});
  same(ops::cross_entropy_per_example(sa, strict(labels)), ops::cross_entropy_per_example(a, labels), "ce");
  same(ops::cross_entropy_backward(sa, strict(labels), 0.5), ops::cross_entropy_backward(a, labels, 0.5), "ce dz");
  CHECK_THROWS_WITH_AS(
      ops::cross_entropy_backward(sa, strict(Tensor::from_vector({3}, std::vector<int64_t>{0, 4, 1})), 1),
      doctest::Contains("label 4 of sample 1"), Error);

  // Sequence ops and recurrent cells.
  const Tensor ids = Tensor::from_vector({2, 2}, std::vector<int64_t>{0, 2, 2, 1}), sids = strict(ids);
  same(ops::permute_axes(strict(a3), {2, 0, 1}), ops::permute_axes(a3, {2, 0, 1}), "permute_axes");
  same(ops::gather_rows(sa, sids), ops::gather_rows(a, ids), "gather_rows");
  const Tensor g4 = randn({2, 2, 4}, rng);
  same(ops::scatter_add_rows(strict(g4), sids, 3), ops::scatter_add_rows(g4, ids, 3), "scatter_add_rows");
  same(ops::concat_last_axis({sa, strict(c0)}), ops::concat_last_axis({a, c0}), "concat_last_axis");
  same(ops::slice_last_axis(sa, 1, 3), ops::slice_last_axis(a, 1, 3), "slice_last_axis");
  same(ops::broadcast_to(strict(row), {3, 4}), ops::broadcast_to(row, {3, 4}), "broadcast_to");
  same(ops::where(strict(ops::unary(ops::Unary::Step, a)), sa, sga), ops::where(ops::unary(ops::Unary::Step, a), a, ga),
       "where");
  same(ops::softmax_last_axis(sa), ops::softmax_last_axis(a), "softmax_last_axis");
  same(ops::softmax_last_axis_backward(sa, sga), ops::softmax_last_axis_backward(a, ga), "softmax_last_axis dx");
  const std::vector<Tensor> ln = ops::layer_norm_forward(a, 4, 1e-5);
  same(ops::layer_norm_forward(sa, 4, 1e-5), ln, "layer_norm_forward");
  same(ops::layer_norm_backward(sga, strict(ln[0]), strict(ln[1])), ops::layer_norm_backward(ga, ln[0], ln[1]),
       "ln dx");
  same(ops::center_last_axis(sa), ops::center_last_axis(a), "center_last_axis");
  for (bool approx : {false, true}) {
    same(ops::gelu(sa, approx), ops::gelu(a, approx), "gelu");
    same(ops::gelu_derivative(sa, approx), ops::gelu_derivative(a, approx), "gelu'");
  }
  same(ops::erf(sa), ops::erf(a), "erf");
  same(ops::erf_derivative(sa), ops::erf_derivative(a), "erf'");
  const int64_t N = 3, H = 2;
  const Tensor z4 = randn({N, 4 * H}, rng), z3 = randn({N, 3 * H}, rng), hh = randn({N, 3 * H}, rng);
  const Tensor h0 = randn({N, H}, rng), c_prev = randn({N, H}, rng), dh = randn({N, H}, rng), dc = randn({N, H}, rng);
  const Tensor m = Tensor::from_vector({N}, std::vector<float>{1, 0, 1});
  const std::vector<Tensor> lf = ops::lstm_cell_forward(z4, c_prev, h0, m);
  same(ops::lstm_cell_forward(strict(z4), strict(c_prev), strict(h0), strict(m)), lf, "lstm forward");
  same(ops::lstm_cell_backward(strict(dh), strict(dc), strict(lf[0]), strict(c_prev), strict(lf[1]), strict(m)),
       ops::lstm_cell_backward(dh, dc, lf[0], c_prev, lf[1], m), "lstm backward");
  const std::vector<Tensor> gf = ops::gru_cell_forward(z3, hh, h0, m);
  same(ops::gru_cell_forward(strict(z3), strict(hh), strict(h0), strict(m)), gf, "gru forward");
  same(ops::gru_cell_backward(strict(dh), strict(gf[0]), strict(hh), strict(h0), strict(m)),
       ops::gru_cell_backward(dh, gf[0], hh, h0, m), "gru backward");
  const Tensor zr = randn({N, H}, rng);
  for (bool relu : {false, true}) {
    const Tensor hr = ops::rnn_cell_forward(zr, h0, Tensor(), relu);
    same(ops::rnn_cell_forward(strict(zr), strict(h0), Tensor(), relu), hr, "rnn forward");
    same(ops::rnn_cell_backward(strict(dh), strict(hr), Tensor(), relu), ops::rnn_cell_backward(dh, hr, Tensor(), relu),
         "rnn backward");
  }

  // The parameterised element-wise family and data movement.
  for (int f = 0; f <= static_cast<int>(ops::Pointwise::Mish); ++f) {
    const auto pf = static_cast<ops::Pointwise>(f);
    const double pa = pf == ops::Pointwise::Clip ? -0.5 : 0.7, pb = pf == ops::Pointwise::Clip ? 0.5 : 1.1;
    const Tensor yf = ops::pointwise(pf, a, pa, pb);
    same(ops::pointwise(pf, sa, pa, pb), yf, "pointwise");
    same(ops::pointwise_backward(pf, sa, strict(yf), sga, pa, pb), ops::pointwise_backward(pf, a, yf, ga, pa, pb),
         "pointwise_backward");
  }
  same(ops::strided_slice(sa, {2, 0}, {-1, 2}, {2, 2}), ops::strided_slice(a, {2, 0}, {-1, 2}, {2, 2}), "slice");
  const Tensor gs = randn({2, 2}, rng);
  same(ops::strided_slice_backward(strict(gs), {2, 0}, {-1, 2}, a.shape()),
       ops::strided_slice_backward(gs, {2, 0}, {-1, 2}, a.shape()), "slice dx");
  same(ops::transpose_axes(sa, {1, 0}), ops::transpose_axes(a, {1, 0}), "transpose_axes");
  same(ops::concat_axis({sa, sa}, 0), ops::concat_axis({a, a}, 0), "concat_axis");
  for (ops::PadMode mode : {ops::PadMode::Constant, ops::PadMode::Reflect, ops::PadMode::Edge}) {
    const Tensor yp2 = ops::pad_axes(a, {1, 2}, {0, 1}, mode, 0.25);
    same(ops::pad_axes(sa, {1, 2}, {0, 1}, mode, 0.25), yp2, "pad_axes");
    same(ops::pad_axes_backward(strict(yp2), {1, 2}, {0, 1}, mode, a.shape()),
         ops::pad_axes_backward(yp2, {1, 2}, {0, 1}, mode, a.shape()), "pad_axes_backward");
  }
  const Tensor gi = Tensor::from_vector({2}, std::vector<int64_t>{3, -4});
  const Tensor ya = ops::gather_axis(a, gi, 1);
  same(ops::gather_axis(sa, strict(gi), 1), ya, "gather_axis");
  same(ops::gather_axis_backward(strict(ya), strict(gi), 1, a.shape()), ops::gather_axis_backward(ya, gi, 1, a.shape()),
       "gather_axis_backward");
}

TEST_CASE("ops::where: x where cond != 0, else y, for every cond dtype, with and without broadcasting") {
  const Tensor x = Tensor::from_vector({2, 3}, std::vector<double>{1, 2, 3, 4, 5, 6});
  const Tensor y = Tensor::from_vector({2, 3}, std::vector<double>{-1, -2, -3, -4, -5, -6});
  const std::vector<double> want{1, -2, 3, -4, -5, 6};
  for (DType dt : {DType::F32, DType::F64, DType::I64}) {
    INFO(dtype_name(dt));
    const Tensor c = Tensor::from_vector({2, 3}, std::vector<double>{2, 0, -1, 0, 0, 0.5}).to(dt);
    const Tensor same_shape = ops::where(c, x, y);  // 0.5 -> int64 0: element 5 differs for I64
    for (int64_t i = 0; i < 6; ++i) CHECK(same_shape.item(i) == (dt == DType::I64 && i == 5 ? -6.0 : want[i]));
    same(ops::where(strict(c), strict(x), strict(y)), same_shape, "where, same shapes");
  }
  // Broadcasting: cond (2, 1), x (1, 3), y scalar-like (1,).
  const Tensor c2 = Tensor::from_vector({2, 1}, std::vector<int64_t>{0, 7});
  const Tensor xr = Tensor::from_vector({1, 3}, std::vector<double>{1, 2, 3});
  const Tensor y1 = Tensor::from_vector({1}, std::vector<double>{-9});
  const Tensor b = ops::where(c2, xr, y1);
  REQUIRE(b.shape() == Shape{2, 3});
  const std::vector<double> want_b{-9, -9, -9, 1, 2, 3};
  for (int64_t i = 0; i < 6; ++i) CHECK(b.item(i) == want_b[i]);
  same(ops::where(strict(c2), strict(xr), strict(y1)), b, "where, broadcast");
}

namespace {

// fashion-mlp or fashion-cnn (seed 0) on `device`: logits, the input gradient and every parameter
// gradient of the summed cross-entropy, all returned on the CPU.
std::vector<Tensor> model_run(const char* name, Device device) {
  Model m = build_zoo_model(name, 0);
  m.to(device);
  Rng rng(1701);
  Tensor x(Shape{4, 1, 28, 28}, DType::F32);
  for (int64_t i = 0; i < x.numel(); ++i) x.set_item(i, rng.uniform(0, 1));
  const Tensor labels = Tensor::from_vector({4}, std::vector<int64_t>{0, 3, 9, 1});
  const Tape tape = m.forward({x.to(device)});
  const Tensor logits = tape.values[m.outputs()[0]];
  BackwardOptions opt;
  opt.param_grad = ParamGrad::Accumulate;
  const Tensor seed = ops::cross_entropy_backward(logits, labels.to(device), 1.0);
  const std::vector<Tensor> grads = m.backward(tape, {{m.outputs()[0], seed}}, opt);
  std::vector<Tensor> out{host(logits), host(grads[m.inputs()[0]])};
  for (Param* p : m.params()) out.push_back(host(p->grad));
  return out;
}

}  // namespace

TEST_CASE("strict device: fashion-mlp and fashion-cnn forward and backward give the CPU's bits") {
  for (const char* name : {"fashion-mlp", "fashion-cnn"}) {
    INFO(name);
    const std::vector<Tensor> cpu = model_run(name, Device::CPU);
    std::vector<Tensor> on_strict;
    try {
      on_strict = model_run(name, Device::Strict);
    } catch (const Error& e) {
      FAIL_CHECK(std::string(std::string(name) + " on strict: " + e.what()));
      continue;
    }
    REQUIRE(cpu.size() == on_strict.size());
    CHECK(cpu.size() >= 4);
    for (size_t i = 0; i < cpu.size(); ++i) {
      INFO("result ", i, " (0: logits, 1: input gradient, then parameter gradients)");
      CHECK(bitwise_equal(on_strict[i], cpu[i]));
    }
  }
}

// ---- each registered layer's passes on Strict (items 2 and 4) ---------------------------------------------
namespace {

// A layer example's passes on `device`: forward; backward with accumulated parameter gradients; per-example
// parameter gradients; the deconvnet and guided-backprop backward; relevance with every rule it has. Results on the
// CPU; the example is built from the same seed each time, so both devices see the same layer and inputs.
std::vector<Tensor> layer_passes(const LayerExampleSpec& spec, Device device) {
  Rng rng(42);
  LayerExample ex = spec.make(rng);
  for (Param* p : ex.layer->params()) p->value = p->value.to(device);
  for (Param* b : ex.layer->buffers()) b->value = b->value.to(device);
  std::vector<Tensor> inputs;
  for (const Tensor& x : ex.inputs) inputs.push_back(x.to(device));
  Rng dropout_rng(1234);
  ForwardOptions fopt = ex.forward_options;
  fopt.rng = &dropout_rng;
  Saved saved;
  const std::vector<Tensor> y = ex.layer->forward(inputs, saved, fopt);
  std::vector<Tensor> out, cot;
  for (const Tensor& t : y) {
    out.push_back(host(t));
    cot.push_back(t.is_float() ? random_tensor(t.shape(), rng).to(t.dtype()).to(device) : Tensor());
  }
  BackwardOptions bopt;
  bopt.param_grad = ParamGrad::Accumulate;
  for (const Tensor& g : ex.layer->backward(cot, saved, bopt)) out.push_back(host(g));
  for (Param* p : ex.layer->params()) out.push_back(host(p->grad));
  if (!fopt.training && !ex.layer->params().empty()) {
    bopt.param_grad = ParamGrad::PerExample;
    ex.layer->backward(cot, saved, bopt);
    for (Param* p : ex.layer->params()) out.push_back(host(p->grad));
  }
  // The modified backward passes of deconvnet and guided backprop (input gradients only).
  bopt.param_grad = ParamGrad::None;
  for (BackwardMode mode : {BackwardMode::DeconvNet, BackwardMode::GuidedBackprop}) {
    bopt.mode = mode;
    for (const Tensor& g : ex.layer->backward(cot, saved, bopt)) out.push_back(host(g));
  }
  // Every LRP rule the layer has, with its default parameters.
  if (y.size() == 1 && y[0].is_float())
    for (const std::string& name : ex.layer->relevance_rules()) {
      Rule rule;
      rule.name = name;
      for (const Tensor& r : ex.layer->relevance(cot, saved, rule)) out.push_back(host(r));
    }
  return out;
}

// "" when every pass runs on Strict and gives the CPU's bits, else what went wrong.
std::string strict_layer_result(const LayerExampleSpec& spec) {
  std::vector<Tensor> cpu;
  try {
    cpu = layer_passes(spec, Device::CPU);
  } catch (const Error& e) {
    return std::string("(fails on the CPU too: ") + e.what() + ")";
  }
  try {
    const std::vector<Tensor> on_strict = layer_passes(spec, Device::Strict);
    if (on_strict.size() != cpu.size()) return "a different number of results";
    for (size_t i = 0; i < cpu.size(); ++i)
      if (!bitwise_equal(on_strict[i], cpu[i])) return "result " + std::to_string(i) + " differs from the CPU's";
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("strict device: every registered layer's passes run on Strict with the CPU's bits") {
  REQUIRE(layer_examples().size() >= 3);
  for (const LayerExampleSpec& spec : layer_examples()) {
    INFO(spec.name);
    CHECK(strict_layer_result(spec) == "");
  }
}
