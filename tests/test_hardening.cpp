// Hardening (issue 16): checked shape arithmetic. Each case is a model or call that crashed, wrapped or
// ran out of memory before; each must now end in one xdnn::Error naming the node and the shape.
#include <doctest/doctest.h>

#include <functional>

#include "engine/ops.h"
#include "engine/shape_util.h"
#include "models/onnx/import.h"
#include "tests/onnx_builder.h"

using namespace xdnn;
using namespace xdnn::test;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

constexpr int64_t k2p61 = int64_t(1) << 61;

}  // namespace

TEST_CASE("shape_util: checked_mul / checked_add / checked_numel refuse overflow, negatives and the limit") {
  CHECK(checked_mul(3, 4, "t") == 12);
  CHECK(contains(error_of([] { checked_mul(8, k2p61 + 1, "t"); }), "t: size 8 * 2305843009213693953"));
  CHECK(contains(error_of([] { checked_mul(-1, 2, "t"); }), "negative or overflows"));
  CHECK(checked_add(-3, 4, "t") == 1);
  CHECK(contains(error_of([] { checked_add(INT64_MAX, 1, "t"); }), "overflows"));
  CHECK(checked_numel({}, "t") == 1);
  CHECK(checked_numel({2, 0, k2p61}, "t") == 0);  // an empty tensor, whatever the other sizes
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

  onnx::ModelProto mp = onnx_model(13, {1, 1, 4, 4});
  auto* n = onnx_node(mp, "MaxPool", {"x"}, {"y"}, "/MaxPool");
  onnx_ints_attr(n, "kernel_shape", {3, 3});
  onnx_ints_attr(n, "pads", {p, p, p, p});
  onnx_output(mp, "y");
  Model pool = import_onnx_model(mp, "pool.onnx");
  CHECK(contains(error_of([&] {
                   pool.predict(Tensor({1, 1, 4, 4}));
                 }),
                 "node '/MaxPool' (MaxPool2d): pool2d output: shape (1, 1, 2147483650, 2147483650) has more than"));

  onnx::ModelProto mh = onnx_model(13, {1, 1, 4, 4});
  auto* h = onnx_node(mh, "MaxPool", {"x"}, {"y"}, "/MaxPool");
  onnx_ints_attr(h, "kernel_shape", {k2p61, 2});
  onnx_ints_attr(h, "dilations", {k2p61, 1});
  onnx_output(mh, "y");
  Model huge = import_onnx_model(mh, "pool.onnx");
  CHECK(contains(error_of([&] { huge.predict(Tensor({1, 1, 4, 4})); }), "node '/MaxPool' (MaxPool2d): pool2d: "));
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
