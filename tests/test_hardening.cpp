// Hardening (issue 16): checked shape arithmetic. Each case is a model or call that crashed, wrapped or
// ran out of memory before; each must now end in one xdnn::Error naming the node and the shape.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>

#include "engine/cpu/scratch.h"
#include "engine/file_io.h"
#include "engine/ops.h"
#include "engine/shape_util.h"
#include "explain/grad_cam.h"
#include "layers/binary.h"
#include "models/io/npy.h"
#include "models/load.h"
#include "models/onnx/import.h"
#include "tests/file_fixtures.h"
#include "tests/onnx_builder.h"

using namespace xdnn;
using namespace xdnn::test;

namespace {

using testing::error_of;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The error of predicting a (1, 1, 4, 4) input through one MaxPool node "/MaxPool" with the given kernel_shape
// and one more ints attribute.
std::string maxpool_run_error(const std::vector<int64_t>& kernel, const std::string& attr,
                              const std::vector<int64_t>& value) {
  onnx::ModelProto m = onnx_model(13, {1, 1, 4, 4});
  auto* n = onnx_node(m, "MaxPool", {"x"}, {"y"}, "/MaxPool");
  onnx_ints_attr(n, "kernel_shape", kernel);
  onnx_ints_attr(n, attr, value);
  onnx_output(m, "y");
  Model pool = import_onnx_model(m, "pool.onnx");
  return error_of([&] { pool.predict(Tensor({1, 1, 4, 4})); });
}

constexpr int64_t k2p61 = int64_t(1) << 61;

}  // namespace

TEST_CASE("shape_util: checked_mul / checked_add / checked_numel refuse overflow, negatives and the limit") {
  CHECK(checked_mul(3, 4, "t") == 12);
  CHECK(contains(error_of([] { checked_mul(8, k2p61 + 1, "t"); }), "t: size 8 * 2305843009213693953"));
  CHECK(contains(error_of([] { checked_mul(-1, 2, "t"); }), "negative or overflows"));
  CHECK(checked_add(-3, 4, "t") == 1);
  CHECK(contains(error_of([] { checked_add(INT64_MAX, 1, "t"); }), "overflows"));
  CHECK(checked_numel({}, "t") == 1);
  CHECK(checked_numel({2, 0, 5}, "t") == 0);  // an empty tensor
  // Empty, but its other axes would overflow the strides (fuzz_onnx found (0, 982730740585651200, 101)).
  CHECK(contains(error_of([] { checked_numel({2, 0, k2p61}, "t"); }), "in its non-empty axes"));
  CHECK(contains(error_of([] { Tensor({0, 982730740585651200, 101}); }), "tensor: shape (0, 982730740585651200, 101)"));
  CHECK(checked_numel({int64_t(1) << 17, int64_t(1) << 17}, "t") == kMaxTensorElements);
  CHECK(error_of([] {
          checked_numel({8, k2p61 + 1}, "x");
        }) == "x: shape (8, 2305843009213693953) has more than 17179869184 elements (2^34, the per-tensor limit)");
  CHECK(contains(error_of([] { checked_numel({2, -3}, "x"); }), "x: negative dimension in shape (2, -3)"));
  CHECK(contains(error_of([] { Tensor({int64_t(1) << 20, int64_t(1) << 20}); }), "tensor: shape (1048576, 1048576)"));
  CHECK(contains(error_of([] { Tensor({2, 3}).reshape({8, k2p61 + 1}); }), "overflows"));
}

TEST_CASE("shape_util: window_output_size matches the formula and refuses absurd geometry") {
  CHECK(window_output_size(28, 1, 1, 3, 1, 1, false, "w") == 28);
  CHECK(window_output_size(28, 0, 0, 2, 2, 1, false, "w") == 14);
  CHECK(window_output_size(5, 0, 0, 2, 2, 1, true, "w") == 3);
  CHECK(window_output_size(2, 0, 0, 3, 1, 1, false, "w") <= 0);
  CHECK(contains(error_of([] { window_output_size(4, 0, 0, 0, 1, 1, false, "w"); }), "w: kernel 0"));
  CHECK(contains(error_of([] { window_output_size(4, k2p61, 0, 3, 1, 1, false, "w"); }), "exceeds"));
  CHECK(contains(error_of([] { window_output_size(4, 0, 0, k2p61, 1, k2p61, false, "w"); }), "exceeds"));
  CHECK(contains(error_of([] { window_output_size(4, 0, 0, int64_t(1) << 33, 1, int64_t(1) << 33, false, "w"); }),
                 "overflows"));
}

TEST_CASE("onnx runtime: a Reshape whose target wraps in int64 is an error naming the node and shape") {
  // 8 · (2^61 + 1) == 8 (mod 2^64): before, the (2, 4) input was accepted as (8, 2^61 + 1) and Softmax read
  // far out of bounds (SIGSEGV).
  onnx::ModelProto m = onnx_model(13, {1, 4});
  onnx_i64_initializer(m, "shape", {8, k2p61 + 1});
  onnx_node(m, "Reshape", {"x", "shape"}, {"r"}, "/Reshape");
  onnx_int_attr(onnx_node(m, "Softmax", {"r"}, {"y"}, "/Softmax"), "axis", -1);
  onnx_output(m, "y");
  Model model = import_onnx_model(m, "wrap.onnx");
  const std::string e = error_of([&] { model.predict(Tensor({2, 4})); });
  CHECK(contains(e, "node '/Reshape' (Reshape): Reshape target: shape (8, 2305843009213693953) has more than"));
}

TEST_CASE("onnx runtime: Pad with pads of 2^61 - 1 is an error before anything grows") {
  onnx::ModelProto m = onnx_model(13, {1, 4});
  onnx_i64_initializer(m, "pads", {0, 0, 0, k2p61 - 1});
  onnx_node(m, "Pad", {"x", "pads"}, {"y"}, "/Pad");
  onnx_output(m, "y");
  Model model = import_onnx_model(m, "pad.onnx");
  const std::string e = error_of([&] { model.predict(Tensor({2, 4})); });
  CHECK(contains(e, "node '/Pad' (Pad): pad output: shape (2, 2305843009213693955) has more than"));
  // A sum that overflows int64 itself.
  onnx::ModelProto m2 = onnx_model(13, {1, 4});
  onnx_i64_initializer(m2, "pads", {0, INT64_MAX, 0, INT64_MAX});
  onnx_node(m2, "Pad", {"x", "pads"}, {"y"}, "/Pad");
  onnx_output(m2, "y");
  Model model2 = import_onnx_model(m2, "pad.onnx");
  CHECK(contains(error_of([&] { model2.predict(Tensor({2, 4})); }), "node '/Pad' (Pad): pad: size"));
}

TEST_CASE("onnx runtime: Conv and MaxPool pads of 2^30 are an error naming the node and the output shape") {
  const int64_t p = int64_t(1) << 30;
  onnx::ModelProto m = onnx_model(13, {1, 1, 4, 4});
  onnx_f32_initializer(m, "w", Tensor::full({1, 1, 3, 3}, 0.5, DType::F32));
  onnx_ints_attr(onnx_node(m, "Conv", {"x", "w"}, {"y"}, "/Conv"), "pads", {p, p, p, p});
  onnx_output(m, "y");
  Model conv = import_onnx_model(m, "conv.onnx");
  CHECK(contains(error_of([&] {
                   conv.predict(Tensor({1, 1, 4, 4}));
                 }),
                 "node '/Conv' (Conv2d): conv2d output: shape (1, 1, 2147483650, 2147483650) has more than"));

  CHECK(contains(maxpool_run_error({3, 3}, "pads", {p, p, p, p}),
                 "node '/MaxPool' (MaxPool2d): pool2d output: shape (1, 1, 2147483650, 2147483650) has more than"));
  CHECK(contains(maxpool_run_error({k2p61, 2}, "dilations", {k2p61, 1}), "node '/MaxPool' (MaxPool2d): pool2d: "));
}

TEST_CASE("onnx: ConstantOfShape and Expand to absurd shapes are errors, at import and at run time") {
  onnx::ModelProto m = onnx_model(13, {1, 4});
  onnx_i64_initializer(m, "big", {int64_t(1) << 40, int64_t(1) << 40});
  onnx_node(m, "ConstantOfShape", {"big"}, {"c"}, "/ConstantOfShape");
  onnx_node(m, "Add", {"x", "c"}, {"y"}, "/Add");
  onnx_output(m, "y");
  const std::string e = error_of([&] { import_onnx_model(m, "cos.onnx"); });
  CHECK(contains(e, "cos.onnx: node '/ConstantOfShape'"));
  CHECK(contains(e, "shape (1099511627776, 1099511627776) has more than"));

  onnx::ModelProto me = onnx_model(13, {1, 4});
  onnx_i64_initializer(me, "big", {k2p61, k2p61, 4});
  onnx_node(me, "Expand", {"x", "big"}, {"y"}, "/Expand");
  onnx_output(me, "y");
  Model expand = import_onnx_model(me, "expand.onnx");
  CHECK(contains(error_of([&] { expand.predict(Tensor({1, 4})); }), "node '/Expand' (Expand): "));
}

TEST_CASE("grad-cam refuses an activation without the batch on axis 0 (the ONNX LSTM output Y)") {
  // Y is (T, directions, N, H) = (12, 1, 3, 32) for 3 samples: before, Grad-CAM returned 12 "samples".
  const std::string golden = XDNN_TESTS_DIR "/golden/";
  Model model = load_model(golden + "models/lstm.onnx");
  explain::ExplainRequest req;
  req.model = &model;
  req.input = load_npy(golden + "explain-lstm-saliency/input.npy");
  req.targets = std::vector<int64_t>(static_cast<size_t>(req.input.dim(0)), 0);
  const Tape tape = model.forward({req.input});
  std::string lstm_y;
  for (int v = 0; v < model.num_values(); ++v)
    if (tape.values[v].defined() && tape.values[v].is_float() && tape.values[v].ndim() == 4)
      lstm_y = model.value_name(v);
  REQUIRE(!lstm_y.empty());
  CHECK(contains(error_of([&] { explain::grad_cam_map(req, lstm_y, false); }), "does not have the batch"));
  CHECK(contains(error_of([&] { explain::grad_cam_map(req, "", false); }), "no convolutional feature map"));
}

TEST_CASE("write_file_atomic replaces the file whole and leaves no temporary file; check_output_path") {
  const std::string dir = "/tmp/xdnn_test_atomic_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/out.npy";
  write_file_atomic(path, {"old"});
  write_file_atomic(path, {"new ", "bytes"});
  std::ifstream f(path);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  CHECK(text == "new bytes");
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 1);
  CHECK(contains(error_of([&] { write_file_atomic(dir + "/no/x.npy", {"x"}); }), dir + "/no/x.npy: cannot write"));
  CHECK(contains(error_of([&] { write_file_atomic(dir, {"x"}); }), "is a directory"));
  // The same file under another spelling is still the input.
  CHECK(contains(error_of([&] { check_output_path(dir + "/./out.npy", "--out", {path}); }), "refusing to overwrite"));
  CHECK(contains(error_of([&] { check_output_path(dir + "/no/x.npy", "--out", {}); }), "does not exist"));
  CHECK(error_of([&] { check_output_path(dir + "/other.npy", "--out", {path}); }).empty());
  std::filesystem::remove_all(dir);
}

TEST_CASE("a folder given as --model: the hint names the files it holds, with one path separator") {
  const std::string dir = "/tmp/xdnn_test_model_folder_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  auto hint_of = [](const std::string& spec) {
    try {
      load_model(spec);
    } catch (const Error& e) {
      CHECK(contains(e.what(), "is a directory"));
      return e.hint();
    }
    FAIL("no error");
    return std::string();
  };
  CHECK(contains(hint_of(dir + "/"), dir + "/epoch-2.safetensors; this one holds no .safetensors or .onnx file"));
  for (const char* f : {"epoch-1.safetensors", "epoch-2.safetensors", "vocab.json"})
    std::ofstream(dir + "/" + f) << "x";
  const std::string hint = hint_of(dir + "/");
  CHECK(contains(hint, "--model " + dir + "/epoch-2.safetensors (it holds epoch-1.safetensors, epoch-2.safetensors)"));
  CHECK(!contains(hint, "//"));
  CHECK(hint_of(dir) == hint);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a kernel's scratch buffer that cannot be had is an xdnn::Error, not std::bad_alloc") {
  // The graph fuzzer found a legal convolution whose GEMM packing buffer (200 MB per thread) failed under
  // a memory limit: std::bad_alloc escaped the engine. The length_error branch runs here (2^62 floats are
  // more than a vector can hold), so no allocation is attempted, under ASan too.
  std::vector<float> v;
  CHECK(contains(error_of([&] { cpu::grow_scratch(v, size_t(1) << 62, "GEMM packing buffer"); }),
                 "out of memory allocating 4611686018427387904 elements for a GEMM packing buffer"));
  cpu::grow_scratch(v, 10, "x");
  CHECK(v.size() == 10);
  cpu::grow_scratch(v, 5, "x");  // never shrinks
  CHECK(v.size() == 10);
}

TEST_CASE("filling an int64 tensor with NaN or an out-of-range value is an error, not undefined behaviour") {
  // Found by fuzz_onnx (UBSan: "-nan is outside the range of representable values of type 'long'").
  Tensor t({2}, DType::I64);
  CHECK(contains(error_of([&] { t.fill(std::nan("")); }), "cannot fill an int64 tensor"));
  CHECK(contains(error_of([&] { t.fill(1e19); }), "cannot fill an int64 tensor"));
  t.fill(-9223372036854775808.0);  // INT64_MIN itself is representable
  CHECK(t.data<int64_t>()[1] == INT64_MIN);
  t.fill(3.0);
  CHECK(t.data<int64_t>()[0] == 3);
}

TEST_CASE("int64 element-wise arithmetic that overflows is an error, not undefined behaviour") {
  // Found by fuzz_onnx (UBSan: "signed integer overflow: -69524319230754834 * 50384020831207426"): the
  // Binary layer's int64 path (shape computations in ONNX graphs).
  auto run = [](ops::Binary op, int64_t u, int64_t v) {
    Tensor a({1}, DType::I64), b({1}, DType::I64);
    a.data<int64_t>()[0] = u;
    b.data<int64_t>()[0] = v;
    Binary layer(op);
    Saved saved;
    return layer.forward({a, b}, saved, ForwardOptions{})[0].data<int64_t>()[0];
  };
  CHECK(
      contains(error_of([&] { run(ops::Binary::Mul, -69524319230754834, 50384020831207426); }), "int64 Mul overflows"));
  CHECK(contains(error_of([&] { run(ops::Binary::Div, INT64_MIN, -1); }), "int64 Div overflows"));
  CHECK(contains(error_of([&] { run(ops::Binary::Add, INT64_MIN, -1); }), "int64 Add overflows"));
  CHECK(run(ops::Binary::Sub, -1, -1) == 0);
  CHECK(run(ops::Binary::Mul, 3, -4) == -12);
}
