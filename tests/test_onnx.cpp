// ONNX import: the golden models against computations from their safetensors weights, dynamic batch,
// names kept, shape arithmetic, opset-dependent semantics, and one-line errors.
#include <doctest/doctest.h>
#include <onnx/onnx_pb.h>

#include <unistd.h>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "engine/ops.h"
#include "layers/batchnorm2d.h"
#include "models/io/npy.h"
#include "models/io/safetensors.h"
#include "models/load.h"
#include "models/onnx/import.h"
#include "tests/gradcheck.h"
#include "tests/onnx_graph_builder.h"

using namespace xdnn;

namespace {

const std::string kGolden = XDNN_TESTS_DIR "/golden/";
const std::string kWeights = kGolden + "models/";  // safetensors of the golden models

using onnx_test::error_of;

// y[n, o] = Σ_i x[n, i] W[o, i] + b[o], in double.
std::vector<double> dense(const std::vector<double>& x, int64_t N, const Tensor& W, const Tensor& b) {
  const int64_t O = W.dim(0), I = W.dim(1);
  std::vector<double> y(N * O);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) {
      double s = b.item(o);
      for (int64_t i = 0; i < I; ++i) s += x[n * I + i] * W.item(o * I + i);
      y[n * O + o] = s;
    }
  return y;
}

// 3x3 convolution, padding 1, stride 1, then ReLU and 2x2 max pooling: (N, C, H, W) -> (N, O, H/2, W/2).
std::vector<double> conv_relu_pool(const std::vector<double>& x, int64_t N, int64_t C, int64_t H, int64_t W,
                                   const Tensor& w, const Tensor& b) {
  const int64_t O = w.dim(0);
  std::vector<double> y(N * O * H * W);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < H; ++i)
        for (int64_t j = 0; j < W; ++j) {
          double s = b.item(o);
          for (int64_t c = 0; c < C; ++c)
            for (int64_t u = 0; u < 3; ++u)
              for (int64_t v = 0; v < 3; ++v) {
                const int64_t ii = i + u - 1, jj = j + v - 1;
                if (ii < 0 || jj < 0 || ii >= H || jj >= W) continue;
                s += x[((n * C + c) * H + ii) * W + jj] * w.item(((o * C + c) * 3 + u) * 3 + v);
              }
          y[((n * O + o) * H + i) * W + j] = std::max(s, 0.0);
        }
  std::vector<double> p(N * O * (H / 2) * (W / 2));
  for (int64_t q = 0; q < N * O; ++q)
    for (int64_t i = 0; i < H / 2; ++i)
      for (int64_t j = 0; j < W / 2; ++j) {
        double m = -INFINITY;
        for (int64_t u = 0; u < 2; ++u)
          for (int64_t v = 0; v < 2; ++v) m = std::max(m, y[(q * H + 2 * i + u) * W + 2 * j + v]);
        p[(q * (H / 2) + i) * (W / 2) + j] = m;
      }
  return p;
}

using onnx_test::values;

double max_rel(const Tensor& y, const std::vector<double>& ref) {
  REQUIRE(static_cast<size_t>(y.numel()) == ref.size());
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i)
    worst = std::max(worst, std::abs(y.item(i) - ref[i]) / std::max(1.0, std::abs(ref[i])));
  return worst;
}

Tensor random_f32(const Shape& s, uint64_t seed) {
  Rng rng(seed);
  Tensor t(s, DType::F32);
  for (int64_t i = 0; i < t.numel(); ++i) t.set_item(i, rng.uniform(-1, 1));
  return t;
}

}  // namespace

TEST_CASE("onnx: golden mlp equals a direct computation from its safetensors weights") {
  Model m = load_onnx(kGolden + "models/mlp.onnx");
  auto w = load_safetensors(kWeights + "mlp.safetensors");
  Tensor x = load_npy(kGolden + "explain-mlp-saliency/input.npy");
  const int64_t N = x.dim(0);
  auto h = dense(values(x), N, w.at("fc1.weight"), w.at("fc1.bias"));
  for (auto& v : h) v = std::max(v, 0.0);
  auto ref = dense(h, N, w.at("fc2.weight"), w.at("fc2.bias"));
  Tensor y = m.predict(x);
  CHECK(y.shape() == Shape{N, 10});
  CHECK(max_rel(y, ref) < 1e-4);
  // Initializers are named parameters; Gemm became a LinearLike Linear.
  REQUIRE(m.find_param("fc1.weight") != nullptr);
  CHECK(m.find_param("fc2.bias") != nullptr);
  int linear = 0;
  for (const auto& n : m.nodes()) linear += n.layer->as_linear() != nullptr;
  CHECK(linear == 2);
}

TEST_CASE("onnx: golden cnn equals a direct computation; tensor names kept; any batch size") {
  Model m = load_onnx(kGolden + "models/cnn.onnx");
  auto w = load_safetensors(kWeights + "cnn.safetensors");
  Tensor x = load_npy(kGolden + "explain-cnn-saliency/input.npy");
  const int64_t N = x.dim(0);
  auto a1 = conv_relu_pool(values(x), N, 1, 28, 28, w.at("conv1.weight"), w.at("conv1.bias"));
  auto a2 = conv_relu_pool(a1, N, 8, 14, 14, w.at("conv2.weight"), w.at("conv2.bias"));
  auto ref = dense(a2, N, w.at("fc.weight"), w.at("fc.bias"));
  Tape tape = m.forward({x});
  Tensor y = tape.values.at(m.outputs().at(0));
  CHECK(max_rel(y, ref) < 1e-4);
  CHECK(m.value_name(m.outputs().at(0)) == "logits");
  CHECK(tape.values.at(m.value_id("/relu2/Relu_output_0")).shape() == Shape{N, 16, 14, 14});
  CHECK(m.find_param("conv2.weight") != nullptr);
  // Batch of one, and a larger batch (the sample repeated): same logits per sample.
  Tensor x1 = x.slice_batch(1, 2).clone();
  Tensor y1 = m.predict(x1);
  for (int64_t k = 0; k < 10; ++k) CHECK(y1.item(k) == doctest::Approx(y.item(10 + k)).epsilon(1e-6));
  Tensor x5({5, 1, 28, 28});
  for (int64_t n = 0; n < 5; ++n) x5.slice_batch(n, n + 1).copy_from(x1);
  Tensor y5 = m.predict(x5);
  for (int64_t k = 0; k < 10; ++k) CHECK(y5.item(40 + k) == doctest::Approx(y.item(10 + k)).epsilon(1e-6));
}

TEST_CASE("onnx: lstm and transformer exports (shape arithmetic) import and predict the trigger class") {
  for (const char* name : {"lstm", "transformer"}) {
    INFO(name);
    Model m = load_onnx(kGolden + "models/" + name + ".onnx");
    Tensor x = load_npy(kGolden + "explain-" + name + "-saliency/input.npy");
    Tensor y = m.predict(x);
    REQUIRE(y.shape() == Shape{x.dim(0), 4});
    for (int64_t n = 0; n < x.dim(0); ++n) {
      int64_t label = -1, best = 0;
      for (int64_t t = 0; t < x.dim(1); ++t)
        if (x.item(n * x.dim(1) + t) >= 60) label = static_cast<int64_t>(x.item(n * x.dim(1) + t)) - 60;
      for (int64_t k = 1; k < 4; ++k)
        if (y.item(n * 4 + k) > y.item(n * 4 + best)) best = k;
      CHECK(best == label);
    }
    // The batch axis stays dynamic: sample 0 alone gives the same logits.
    Tensor y0 = m.predict(x.slice_batch(0, 1).clone());
    for (int64_t k = 0; k < 4; ++k) CHECK(y0.item(k) == doctest::Approx(y.item(k)).epsilon(1e-5));
    CHECK(m.find_param("embedding.weight") != nullptr);
  }
}

TEST_CASE("onnx: errors are one line naming the file, node, op and opset") {
  SUBCASE("missing and truncated files") {
    CHECK(error_of([] { load_onnx("/nonexistent/m.onnx"); }).find("/nonexistent/m.onnx: cannot open") == 0);
    std::ifstream f(kGolden + "models/cnn.onnx", std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string bytes = ss.str();
    const std::string path = "/tmp/xdnn_test_onnx_truncated_" + std::to_string(::getpid()) + ".onnx";
    std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    const std::string e = error_of([&] { load_onnx(path); });
    CHECK(e.find(path + ":") == 0);
    CHECK(e.find('\n') == std::string::npos);
    std::remove(path.c_str());
  }
  SUBCASE("unsupported operator") {
    onnx::ModelProto m = onnx_test::graph(17, {1, 3});
    onnx_test::node(m, "Foo", {"x"}, {"y"}, "/foo/Bar");
    onnx_test::output(m, "y");
    CHECK(error_of([&] { import_onnx_model(m, "model.onnx"); }) ==
          "model.onnx: 1 unsupported operator: Foo (node '/foo/Bar')");
  }
  SUBCASE("unsupported attribute and opset") {
    onnx::ModelProto m = onnx_test::graph(13, {1, 3});
    onnx_test::attr_int(onnx_test::node(m, "Relu", {"x"}, {"y"}, "/r"), "bogus", 1);
    onnx_test::output(m, "y");
    CHECK(error_of([&] { import_onnx_model(m, "m.onnx"); }) ==
          "m.onnx: node '/r' (op Relu, opset 13): unsupported attribute 'bogus'");
    onnx::ModelProto old = onnx_test::graph(5, {1, 3});
    CHECK(error_of([&] {
            import_onnx_model(old, "m.onnx");
          }).find("m.onnx: opset 5 is not supported (supported: 6 to 23)") == 0);
  }
  SUBCASE("input shape and dtype mismatch") {
    Model m = load_onnx(kGolden + "models/cnn.onnx");
    CHECK(error_of([&] {
            m.predict(Tensor({2, 1, 28, 27}));
          }) == "input 'input': expected float32 (N, 1, 28, 28), got float32 (2, 1, 28, 27)");
    CHECK(error_of([&] {
            m.predict(Tensor({2, 1, 28, 28}, DType::I64));
          }).find("input 'input': expected float32") == 0);
  }
}

TEST_CASE("onnx: Shape -> Gather -> Unsqueeze -> Concat -> Reshape runs for every batch size") {
  // y = Reshape(x, [N, -1]) where N comes from Shape(x)[0]: the batch-dependent part stays a run-time
  // int64 computation; the constant part ([-1]) folds.
  onnx::ModelProto m = onnx_test::graph(13, {1, 3, 4});
  onnx_test::init_i64(m, "zero", {0}, true);  // scalar index: Gather gives a scalar, as PyTorch exports do
  onnx_test::init_i64(m, "minus_one", {-1}, true);
  onnx_test::init_i64(m, "axes", {0});
  onnx_test::node(m, "Shape", {"x"}, {"s"});
  onnx_test::attr_int(onnx_test::node(m, "Gather", {"s", "zero"}, {"n0"}), "axis", 0);
  onnx_test::node(m, "Unsqueeze", {"n0", "axes"}, {"n"}, "/batch_unsqueeze");
  onnx_test::node(m, "Unsqueeze", {"minus_one", "axes"}, {"m1"}, "/const_unsqueeze");  // constant: folded
  onnx_test::node(m, "Concat", {"n", "m1"}, {"shape"});
  onnx_test::attr_int(m.mutable_graph()->mutable_node(4), "axis", 0);
  onnx_test::node(m, "Reshape", {"x", "shape"}, {"y"});
  onnx_test::output(m, "y");
  Model model = import_onnx_model(m, "tiny.onnx");
  for (const auto& n : model.nodes()) CHECK(n.name != "/const_unsqueeze");
  for (int64_t N : {1, 2, 5}) {
    Tensor x = random_f32({N, 3, 4}, 3);
    Tensor y = model.predict(x);
    CHECK(y.shape() == Shape{N, 12});
    CHECK(bitwise_equal(y, x.reshape({N, 12})));
  }
}

TEST_CASE("onnx: Softmax axis semantics differ before and after opset 13") {
  for (int opset : {11, 13}) {
    onnx::ModelProto m = onnx_test::graph(opset, {1, 3, 4});
    onnx_test::attr_int(onnx_test::node(m, "Softmax", {"x"}, {"y"}), "axis", 1);
    onnx_test::output(m, "y");
    Model model = import_onnx_model(m, "s.onnx");
    Tensor y = model.predict(random_f32({2, 3, 4}, 5));
    REQUIRE(y.shape() == Shape{2, 3, 4});
    // opset 11: normalised over the 12 trailing elements of each sample; opset 13: over axis 1 only.
    double s0 = 0, col = 0;
    for (int64_t i = 0; i < 12; ++i) s0 += y.item(i);
    for (int64_t c = 0; c < 3; ++c) col += y.item(c * 4);
    if (opset == 11) CHECK(s0 == doctest::Approx(1.0).epsilon(1e-6));
    if (opset == 13) CHECK(col == doctest::Approx(1.0).epsilon(1e-6));
  }
}

TEST_CASE("onnx: registry lists the converters of every op family") {
  for (const char* op : {"Conv", "Gemm", "MatMul", "Relu", "Softmax", "Shape", "Slice", "Pad", "Gather", "ReduceMean"})
    CHECK(has_onnx_op(op));
}

TEST_CASE("onnx: Gemm with transA / alpha / beta, and MatMul(x, Transpose(W)) as a Linear keeping W's name") {
  const Tensor A = random_f32({3, 2}, 11), B = random_f32({3, 4}, 12), C = random_f32({4}, 13);
  {
    // Y = 2 Aᵀ B + 0.5 C with A the run-time input (3, N=2): the general path (Transpose, MatMul, Scale, Add).
    onnx::ModelProto m = onnx_test::graph(13, {3, 2});
    onnx_test::init_f32(m, "B", B);
    onnx_test::init_f32(m, "C", C);
    auto* n = onnx_test::node(m, "Gemm", {"x", "B", "C"}, {"y"});
    onnx_test::attr_int(n, "transA", 1);
    onnx_test::attr_float(n, "alpha", 2.0f);
    onnx_test::attr_float(n, "beta", 0.5f);
    onnx_test::output(m, "y");
    m.mutable_graph()
        ->mutable_input(0)
        ->mutable_type()
        ->mutable_tensor_type()
        ->mutable_shape()
        ->mutable_dim(0)
        ->set_dim_value(3);
    Model model = import_onnx_model(m, "gemm.onnx");
    Tensor y = model.predict(A);
    REQUIRE(y.shape() == Shape{2, 4});
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 4; ++j) {
        double s = 0.5 * C.item(j);
        for (int64_t k = 0; k < 3; ++k) s += 2.0 * A.item(k * 2 + i) * B.item(k * 4 + j);
        CHECK(y.item(i * 4 + j) == doctest::Approx(s).epsilon(1e-5));
      }
  }
  {
    onnx::ModelProto m = onnx_test::graph(17, {2, 4});
    const Tensor W = random_f32({3, 4}, 14);
    onnx_test::init_f32(m, "proj.weight", W);
    onnx_test::node(m, "Transpose", {"proj.weight"}, {"Wt"});
    onnx_test::node(m, "MatMul", {"x", "Wt"}, {"y"});
    onnx_test::output(m, "y");
    Model model = import_onnx_model(m, "mm.onnx");
    REQUIRE(model.nodes().size() == 1);
    CHECK(model.nodes()[0].layer->as_linear() != nullptr);
    Param* p = model.find_param("proj.weight");
    REQUIRE(p != nullptr);
    CHECK(bitwise_equal(p->value, W));
    Tensor x = random_f32({5, 4}, 15);
    Tensor y = model.predict(x);
    for (int64_t i = 0; i < 5; ++i)
      for (int64_t o = 0; o < 3; ++o) {
        double s = 0;
        for (int64_t k = 0; k < 4; ++k) s += x.item(i * 4 + k) * W.item(o * 4 + k);
        CHECK(y.item(i * 3 + o) == doctest::Approx(s).epsilon(1e-5));
      }
  }
}

TEST_CASE("onnx: auto_pad SAME with stride 2 equals the explicit pads it stands for") {
  const Tensor W = random_f32({2, 1, 3, 3}, 21);
  auto build = [&](const std::string& op, bool same) {
    onnx::ModelProto m = onnx_test::graph(17, {1, 1, 5, 6});
    m.mutable_graph()
        ->mutable_input(0)
        ->mutable_type()
        ->mutable_tensor_type()
        ->mutable_shape()
        ->mutable_dim(2)
        ->set_dim_param("H");
    m.mutable_graph()
        ->mutable_input(0)
        ->mutable_type()
        ->mutable_tensor_type()
        ->mutable_shape()
        ->mutable_dim(3)
        ->set_dim_param("W");
    std::vector<std::string> ins = {"x"};
    if (op == "Conv") {
      onnx_test::init_f32(m, "w", W);
      ins.push_back("w");
    }
    auto* n = onnx_test::node(m, op, ins, {"y"});
    auto ints = [&](const char* name, const std::vector<int64_t>& v) {
      auto* a = n->add_attribute();
      a->set_name(name), a->set_type(onnx::AttributeProto::INTS);
      for (int64_t x : v) a->add_ints(x);
    };
    ints("strides", {2, 2});
    if (op != "Conv") ints("kernel_shape", {3, 3});
    if (same) {
      auto* a = n->add_attribute();
      a->set_name("auto_pad"), a->set_type(onnx::AttributeProto::STRING), a->set_s("SAME_UPPER");
    } else {
      // For a 5 x 6 input: out 3 x 3; total padding 2 (rows: 1 + 1) and 1 (columns: 0 + 1, the odd one at the end).
      ints("pads", {1, 0, 1, 1});
    }
    onnx_test::output(m, "y");
    return import_onnx_model(m, "same.onnx");
  };
  for (const char* op : {"Conv", "MaxPool"}) {
    INFO(op);
    Model same = build(op, true), expl = build(op, false);
    Tensor x = random_f32({3, 1, 5, 6}, 22);
    Tensor a = same.predict(x), b = expl.predict(x);
    REQUIRE(a.shape() == b.shape());
    CHECK(a.dim(2) == 3);
    CHECK(bitwise_equal(a, b));
    // The padding follows the input size per call: 7 x 8 -> ⌈7/2⌉ x ⌈8/2⌉.
    CHECK(same.predict(random_f32({1, 1, 7, 8}, 23)).shape() == Shape{1, op == std::string("Conv") ? 2 : 1, 4, 4});
  }
}

TEST_CASE("onnx: imported models run in float64 after Model::to (run-time constants follow the model's dtype)") {
  // The lstm's zero initial states come from ConstantOfShape and the transformer casts shape arithmetic:
  // their float fills are model constants, so they become float64 with everything else.
  for (const char* name : {"cnn", "lstm", "transformer"}) {
    INFO(name);
    Model m = load_onnx(kGolden + "models/" + name + ".onnx");
    const std::string input =
        std::string(name) == "cnn" ? "explain-cnn-saliency" : std::string("explain-") + name + "-saliency";
    Tensor x = load_npy(kGolden + input + "/input.npy");
    Tensor y32 = m.predict(x);
    m.to(DType::F64);
    Tensor y64 = m.predict(x.is_float() ? x.to(DType::F64) : x);
    REQUIRE(y64.dtype() == DType::F64);
    CHECK(testing::max_rel_diff(y64, y32.to(DType::F64)) < 1e-4);
  }
}

TEST_CASE("onnx: truncated and corrupted files are rejected with an Error or import cleanly, never crash") {
  std::ifstream f(kGolden + "models/cnn.onnx", std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  Tensor x = load_npy(kGolden + "explain-cnn-saliency/input.npy");
  Rng rng(99);
  int rejected = 0, imported = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string b = bytes;
    if (trial % 2 == 0) {
      b.resize(static_cast<size_t>(rng.uniform(0, 1) * static_cast<double>(bytes.size())));
    } else {
      for (int k = 0; k < 4; ++k) {
        const size_t at = static_cast<size_t>(rng.uniform(0, 1) * static_cast<double>(bytes.size() - 1));
        b[at] = static_cast<char>(static_cast<int>(rng.uniform(0, 256)));
      }
    }
    onnx::ModelProto proto;
    if (!proto.ParseFromString(b)) {
      ++rejected;
      continue;
    }
    try {
      Model m = import_onnx_model(proto, "mutated.onnx");
      m.predict(x);
      ++imported;
    } catch (const Error& e) {
      ++rejected;
      CHECK(std::string(e.what()).find('\n') == std::string::npos);
    }
  }
  CHECK(rejected + imported == 300);
  CHECK(rejected > 100);
}

TEST_CASE("onnx: BatchNormalization momentum is the complement of xdnn's (running statistics update)") {
  // ONNX: running = m · running + (1 − m) · batch. xdnn/PyTorch: running = (1 − m') · running + m' · batch.
  onnx::ModelProto m = onnx_test::graph(15, {1, 2, 3, 3});
  for (const char* name : {"g", "b", "mu", "var"}) onnx_test::init_f32(m, name, Tensor::full({2}, 1.0));
  auto* n = onnx_test::node(m, "BatchNormalization", {"x", "g", "b", "mu", "var"}, {"y"}, "/bn");
  auto* a = n->add_attribute();
  a->set_name("momentum");
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(0.75f);
  onnx_test::output(m, "y");
  Model model = import_onnx_model(m, "bn.onnx");
  const BatchNorm2d* bn = nullptr;
  for (const auto& node : model.nodes())
    if (auto* p = dynamic_cast<const BatchNorm2d*>(node.layer.get())) bn = p;
  REQUIRE(bn != nullptr);
  CHECK(bn->momentum() == doctest::Approx(0.25));
}
