// ONNX import, issue 14: opsets up to 23, every unsupported op in one line, weights folded behind
// Identity / Cast (and the error when they cannot be), and the operators of the common architectures
// (Clip, HardSigmoid, HardSwish, Mish, Range, comparisons, Reduce*, Split-18, Resize / Upsample,
// GlobalMaxPool, Einsum), each on a small graph built here with the protobuf API against values
// computed by hand or by a second path through layers tested elsewhere.
#include <doctest/doctest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include "engine/ops.h"
#include "models/load.h"
#include "models/onnx/import.h"
#include "tests/onnx_graph_builder.h"

using namespace xdnn;
using namespace xdnn::onnx_test;

TEST_CASE("onnx opsets: 7 to 23 import, newer ones name the ops and the nearest supported opset") {
  for (int opset : {7, 13, 17, 18, 20, 21, 22, 23}) {
    onnx::ModelProto m = graph(opset, {1, 3});
    node(m, "Relu", {"x"}, {"y"});
    output(m, "y");
    CHECK(values(run(m, input({1, 3}, {-1, 0, 2}))) == std::vector<double>{0, 0, 2});
  }
  onnx::ModelProto m = graph(25, {1, 3});
  node(m, "Relu", {"x"}, {"h"});
  node(m, "Gemm", {"h", "w"}, {"y"});
  output(m, "y");
  CHECK(error_of([&] { import_onnx_model(m, "new.onnx"); }) ==
        "new.onnx: opset 25 is newer than the importer knows (supported: 6 to 23): ops Gemm, Relu may have changed "
        "since opset 23; re-export with the nearest supported opset, 23 (torch.onnx.export(..., opset_version=23))");
}

TEST_CASE("onnx: every unsupported operator of the graph in one line") {
  onnx::ModelProto m = graph(17, {1, 3});
  node(m, "Foo", {"x"}, {"a"}, "/foo1");
  node(m, "Relu", {"a"}, {"b"});
  node(m, "Bar", {"b"}, {"c"}, "/bar");
  node(m, "Foo", {"c"}, {"d"}, "/foo2");
  node(m, "Baz", {"d"}, {"y"}, "/ms")->set_domain("com.microsoft");
  output(m, "y");
  CHECK(error_of([&] { import_onnx_model(m, "model.onnx"); }) ==
        "model.onnx: 3 unsupported operators: Bar (node '/bar'), Foo (nodes '/foo1', '/foo2'), "
        "com.microsoft:Baz (node '/ms')");
}

TEST_CASE("onnx folding: weights behind Identity and Cast (deduplicated initializers) become parameters") {
  // y = Conv(x, W, Identity(b0)) + Gemm-free check: the bias 'features.3.bias' is the Identity's output,
  // as torch.onnx.export writes it when two layers' biases are equal.
  onnx::ModelProto m = graph(17, {1, 1, 2, 2});
  init_f32(m, "features.0.weight", {2, 1, 1, 1}, {2.f, -1.f}, true);
  init_f32(m, "features.0.bias", {2}, {0.5f, 0.25f});
  node(m, "Identity", {"features.0.bias"}, {"features.3.bias"}, "/Identity_3");
  node(m, "Cast", {"features.0.weight"}, {"w_cast"}, "/Cast_w");
  attr_int(m.mutable_graph()->mutable_node(1), "to", onnx::TensorProto::FLOAT);
  node(m, "Conv", {"x", "w_cast", "features.3.bias"}, {"y"});
  output(m, "y");
  Model model = import_onnx_model(m, "dedup.onnx");
  CHECK(model.find_param("features.3.bias") != nullptr);
  CHECK(model.find_param("w_cast") != nullptr);
  Tensor y = model.predict(input({1, 1, 2, 2}, {1, 2, 3, 4}));
  check_close(y, {2.5, 4.5, 6.5, 8.5, -0.75, -1.75, -2.75, -3.75});

  SUBCASE("a bias computed from the input names the node and the run-time value") {
    onnx::ModelProto r = graph(17, {1, 1, 2, 2});
    init_f32(r, "w", {2, 1, 1, 1}, {2.f, -1.f});
    init_i64(r, "two", {2});
    node(r, "Reshape", {"x", "two"}, {"flat"}, "/bad_reshape");  // fails at run time only: never reached
    node(r, "Identity", {"flat"}, {"bias"}, "/Identity_7");
    node(r, "Conv", {"x", "w", "bias"}, {"y"}, "/conv");
    output(r, "y");
    CHECK(error_of([&] { import_onnx_model(r, "r.onnx"); }) ==
          "r.onnx: node '/conv' (op Conv, opset 17): input 2 ('bias') must be a weight: an initializer, or computed "
          "from initializers alone (folded at import); but node '/Identity_7' (op Identity) computes it from "
          "run-time value 'x', so it cannot be folded to a constant");
  }
  SUBCASE("a folded weight of the wrong type says where it was folded from") {
    onnx::ModelProto r = graph(17, {1, 1, 2, 2});
    init_f32(r, "w", {2, 1, 1, 1}, {2.f, -1.f});
    init_f32(r, "b", {2}, {1.f, 2.f});
    node(r, "Cast", {"b"}, {"b_int"}, "/Cast_9");
    attr_int(r.mutable_graph()->mutable_node(0), "to", onnx::TensorProto::INT64);
    node(r, "Conv", {"x", "w", "b_int"}, {"y"}, "/conv");
    output(r, "y");
    const std::string e = error_of([&] { import_onnx_model(r, "r.onnx"); });
    CHECK(e == "r.onnx: node '/conv' (op Conv, opset 17): input 2 ('b_int') must be a float weight, got int64 (2,)");
  }
}

TEST_CASE("onnx Clip / ReLU6: bounds as attributes before opset 11, as inputs from 11 on") {
  const Tensor x = input({1, 4}, {-2, 0.5, 5, 8});
  onnx::ModelProto a = graph(6, {1, 4});
  auto* c = node(a, "Clip", {"x"}, {"y"});
  attr_float(c, "min", 0), attr_float(c, "max", 6);
  output(a, "y");
  check_close(run(a, x), {0, 0.5, 5, 6});
  for (int opset : {11, 13, 21}) {
    onnx::ModelProto b = graph(opset, {1, 4});
    init_f32(b, "lo", {}, {0.f});
    init_f32(b, "hi", {}, {6.f});
    node(b, "Clip", {"x", "lo", "hi"}, {"y"});
    output(b, "y");
    check_close(run(b, x), {0, 0.5, 5, 6});
    onnx::ModelProto only_max = graph(opset, {1, 4});  // min absent: unbounded below
    init_f32(only_max, "hi", {}, {6.f});
    node(only_max, "Clip", {"x", "", "hi"}, {"y"});
    output(only_max, "y");
    check_close(run(only_max, x), {-2, 0.5, 5, 6});
  }
}

TEST_CASE("onnx HardSigmoid, HardSwish, Mish, SiLU as Sigmoid·Mul: values by their formulas") {
  const std::vector<float> xs = {-4, -1, 0, 0.5, 2, 4};
  const Tensor x = input({1, 6}, xs);
  auto one_op = [&](const std::string& op, bool alpha_beta) {
    onnx::ModelProto m = graph(17, {1, 6});
    auto* n = node(m, op, {"x"}, {"y"});
    if (alpha_beta) attr_float(n, "alpha", 0.25f), attr_float(n, "beta", 0.4f);
    output(m, "y");
    return run(m, x);
  };
  std::vector<double> hs, hw, mi, si;
  for (float v : xs) {
    hs.push_back(std::clamp(0.25 * v + 0.4, 0.0, 1.0));
    hw.push_back(v * std::clamp(v / 6.0 + 0.5, 0.0, 1.0));
    mi.push_back(v * std::tanh(std::log1p(std::exp(double(v)))));
    si.push_back(v / (1 + std::exp(-double(v))));
  }
  check_close(one_op("HardSigmoid", true), hs);
  check_close(one_op("HardSwish", false), hw);
  check_close(one_op("Mish", false), mi);
  onnx::ModelProto m = graph(17, {1, 6});
  node(m, "Sigmoid", {"x"}, {"s"});
  node(m, "Mul", {"x", "s"}, {"y"});
  output(m, "y");
  check_close(run(m, x), si);
}

TEST_CASE("onnx Range, comparisons, Not and Where: positions and masks of exported Transformers") {
  // positions = Range(0, T, 1) with T = Shape(x)[1]; y = Where(positions < 2 and not (positions == 0), x, -x)
  onnx::ModelProto m = graph(17, {1, -1});
  init_i64(m, "zero", {0}, true);
  init_i64(m, "one", {1}, true);
  init_i64(m, "two", {2}, true);
  node(m, "Shape", {"x"}, {"s"});
  node(m, "Gather", {"s", "one"}, {"T"});
  node(m, "Range", {"zero", "T", "one"}, {"pos"});
  node(m, "Less", {"pos", "two"}, {"lt"});
  node(m, "Equal", {"pos", "zero"}, {"eq"});
  node(m, "Not", {"eq"}, {"ne"});
  node(m, "And", {"lt", "ne"}, {"mask"});
  node(m, "Neg", {"x"}, {"nx"});
  node(m, "Where", {"mask", "x", "nx"}, {"y"});
  output(m, "y");
  Model model = import_onnx_model(m, "mask.onnx");
  check_close(model.predict(input({1, 4}, {1, 2, 3, 4})), {-1, 2, -3, -4});
  check_close(model.predict(input({2, 3}, {1, 2, 3, 4, 5, 6})), {-1, 2, -3, -4, 5, -6});  // T follows the input

  onnx::ModelProto f = graph(17, {1, 1});  // float Range, folded at import: 0.5, 1.25, 2
  init_f32(f, "start", {}, {0.5f});
  init_f32(f, "limit", {}, {2.5f});
  init_f32(f, "delta", {}, {0.75f});
  node(f, "Range", {"start", "limit", "delta"}, {"r"});
  node(f, "Greater", {"x", "r"}, {"g"});
  node(f, "GreaterOrEqual", {"x", "r"}, {"ge"});
  attr_int(node(f, "Cast", {"g"}, {"gf"}, "/cast_g"), "to", onnx::TensorProto::FLOAT);
  attr_int(node(f, "Cast", {"ge"}, {"gef"}, "/cast_ge"), "to", onnx::TensorProto::FLOAT);
  node(f, "Add", {"gf", "gef"}, {"y"});
  output(f, "y");
  CHECK(values(run(f, input({1, 1}, {1.25}))) == std::vector<double>{2, 1, 0});
}

TEST_CASE("onnx ReduceSum / Max / Min / Prod / Mean across the axes-as-input change") {
  const Tensor x = input({2, 3}, {1, -2, 3, 4, 5, -6});
  auto reduce = [&](const std::string& op, int opset, bool keep, bool noop = false, bool no_axes = false) {
    onnx::ModelProto m = graph(opset, {1, 3});
    const bool as_input = op == "ReduceSum" ? opset >= 13 : opset >= 18;
    onnx::NodeProto* n;
    if (as_input) {
      init_i64(m, "axes", {1});
      n = node(m, op, no_axes ? std::vector<std::string>{"x"} : std::vector<std::string>{"x", "axes"}, {"y"});
      if (noop) attr_int(n, "noop_with_empty_axes", 1);
    } else {
      n = node(m, op, {"x"}, {"y"});
      attr_ints(n, "axes", {1});
    }
    attr_int(n, "keepdims", keep ? 1 : 0);
    output(m, "y");
    return run(m, x);
  };
  for (int opset : {11, 13, 18}) {
    INFO("opset ", opset);
    CHECK(values(reduce("ReduceSum", opset, false)) == std::vector<double>{2, 3});
    CHECK(values(reduce("ReduceMax", opset, false)) == std::vector<double>{3, 5});
    CHECK(values(reduce("ReduceMin", opset, true)) == std::vector<double>{-2, -6});
    CHECK(reduce("ReduceMin", opset, true).shape() == Shape{2, 1});
    CHECK(values(reduce("ReduceProd", opset, false)) == std::vector<double>{-6, -120});
    check_close(reduce("ReduceMean", opset, false), {2.0 / 3, 1});
  }
  CHECK(values(reduce("ReduceSum", 18, false, false, true)) == std::vector<double>{5});  // no axes: all
  CHECK(bitwise_equal(reduce("ReduceSum", 18, true, true, true), x));                    // noop_with_empty_axes
}

TEST_CASE("onnx Split: sizes as attribute (< 13), input (13+), num_outputs with a smaller last piece (18)") {
  const Tensor x = input({1, 5}, {1, 2, 3, 4, 5});
  onnx::ModelProto a = graph(11, {1, 5});
  auto* s = node(a, "Split", {"x"}, {"p", "q"});
  attr_int(s, "axis", 1), attr_ints(s, "split", {2, 3});
  output(a, "q");
  CHECK(values(run(a, x)) == std::vector<double>{3, 4, 5});
  onnx::ModelProto b = graph(13, {1, 5});
  init_i64(b, "sizes", {4, 1});
  attr_int(node(b, "Split", {"x", "sizes"}, {"p", "q"}), "axis", 1);
  output(b, "q");
  CHECK(values(run(b, x)) == std::vector<double>{5});
  onnx::ModelProto c = graph(18, {1, 5});
  auto* n = node(c, "Split", {"x"}, {"p", "q", "r"});
  attr_int(n, "axis", 1), attr_int(n, "num_outputs", 3);
  node(c, "Concat", {"r", "p"}, {"y"});
  attr_int(m_last_node(c), "axis", 1);
  output(c, "y");
  CHECK(values(run(c, x)) == std::vector<double>{5, 1, 2});  // pieces 2, 2, 1
}

TEST_CASE("onnx Resize (10, 11+, 19) and Upsample (7, 9): nearest and linear against hand-computed values") {
  const Tensor x = input({1, 1, 1, 2}, {1, 3});
  auto resize = [&](int opset, const std::string& mode, const std::string& coords, std::vector<float> scales,
                    std::vector<int64_t> sizes = {}) {
    onnx::ModelProto m = graph(opset, {1, 1, 1, 2});
    std::vector<std::string> ins = {"x"};
    if (opset < 11) {
      init_f32(m, "scales", {4}, scales);
      ins.push_back("scales");
    } else {
      ins.push_back("");
      if (!scales.empty()) init_f32(m, "scales", {4}, scales);
      ins.push_back(scales.empty() ? "" : "scales");
      if (!sizes.empty()) init_i64(m, "sizes", sizes), ins.push_back("sizes");
    }
    auto* n = node(m, "Resize", ins, {"y"});
    attr_string(n, "mode", mode);
    if (!coords.empty()) attr_string(n, "coordinate_transformation_mode", coords);
    output(m, "y");
    return run(m, x);
  };
  check_close(resize(10, "nearest", "", {1, 1, 1, 2}), {1, 1, 3, 3});
  check_close(resize(13, "nearest", "", {1, 1, 1, 2}), {1, 1, 3, 3});
  check_close(resize(13, "linear", "", {1, 1, 1, 2}), {1, 1.5, 2.5, 3});  // PyTorch align_corners=False
  check_close(resize(13, "linear", "pytorch_half_pixel", {1, 1, 1, 2}), {1, 1.5, 2.5, 3});
  check_close(resize(13, "linear", "asymmetric", {1, 1, 1, 2}), {1, 2, 3, 3});
  check_close(resize(19, "linear", "align_corners", {}, {1, 1, 1, 3}), {1, 2, 3});
  CHECK(resize(13, "nearest", "", {1, 1, 2, 2}).shape() == Shape{1, 1, 2, 4});
  for (int opset : {7, 9}) {
    onnx::ModelProto m = graph(opset, {1, 1, 1, 2});
    std::vector<std::string> ins = {"x"};
    if (opset == 9) init_f32(m, "scales", {4}, {1, 1, 1, 2}), ins.push_back("scales");
    auto* n = node(m, "Upsample", ins, {"y"});
    if (opset == 7) {
      auto* a = n->add_attribute();
      a->set_name("scales"), a->set_type(onnx::AttributeProto::FLOATS);
      for (float f : {1.f, 1.f, 1.f, 2.f}) a->add_floats(f);
    }
    output(m, "y");
    check_close(run(m, x), {1, 1, 3, 3});
  }
  // sizes computed at run time from the input's shape: (N, C, H) of x and a constant width 4
  onnx::ModelProto r = graph(13, {1, 1, 1, 2});
  init_i64(r, "start", {0});
  init_i64(r, "end", {3});
  init_i64(r, "w", {4});
  node(r, "Shape", {"x"}, {"s"});
  node(r, "Slice", {"s", "start", "end"}, {"nch"});
  attr_int(node(r, "Concat", {"nch", "w"}, {"sizes"}), "axis", 0);
  attr_string(node(r, "Resize", {"x", "", "", "sizes"}, {"y"}), "mode", "linear");
  output(r, "y");
  check_close(run(r, input({2, 1, 1, 2}, {1, 3, 5, 9})), {1, 1.5, 2.5, 3, 5, 6, 8, 9});
}

TEST_CASE("onnx GlobalMaxPool: the maximum over every spatial axis") {
  onnx::ModelProto m = graph(13, {1, 2, 2, 2});
  node(m, "GlobalMaxPool", {"x"}, {"y"});
  output(m, "y");
  Tensor y = run(m, input({1, 2, 2, 2}, {1, 7, -3, 2, -5, -1, -4, -2}));
  CHECK(y.shape() == Shape{1, 2, 1, 1});
  CHECK(values(y) == std::vector<double>{7, -1});
}

namespace {
// Brute-force einsum of two operands: every output index, summing over the letters not in the output.
std::vector<double> einsum_ref(const std::string& eq, const Tensor& a, const Tensor& b) {
  const std::string la = eq.substr(0, eq.find(',')), lb = eq.substr(eq.find(',') + 1, eq.find('-') - eq.find(',') - 1);
  const std::string out = eq.substr(eq.find('>') + 1);
  std::map<char, int64_t> dim;
  for (size_t i = 0; i < la.size(); ++i) dim[la[i]] = std::max(dim[la[i]], a.dim(static_cast<int>(i)));
  for (size_t i = 0; i < lb.size(); ++i) dim[lb[i]] = std::max(dim[lb[i]], b.dim(static_cast<int>(i)));
  std::string letters;
  for (const auto& [c, d] : dim) letters += c;
  std::map<char, int64_t> at;
  auto flat = [&](const std::string& ls, const Tensor* t) {
    int64_t f = 0;
    for (size_t i = 0; i < ls.size(); ++i) {
      const int64_t d = t ? t->dim(static_cast<int>(i)) : dim[ls[i]];
      f = f * d + (d == 1 ? 0 : at[ls[i]]);
    }
    return f;
  };
  int64_t n_out = 1, total = 1;
  for (char c : out) n_out *= dim[c];
  for (char c : letters) total *= dim[c];
  std::vector<double> y(n_out, 0.0);
  for (int64_t k = 0; k < total; ++k) {
    int64_t r = k;
    for (int i = static_cast<int>(letters.size()) - 1; i >= 0; --i)
      at[letters[i]] = r % dim[letters[i]], r /= dim[letters[i]];
    y[flat(out, nullptr)] += a.item(flat(la, &a)) * b.item(flat(lb, &b));
  }
  return y;
}
}  // namespace

TEST_CASE("onnx Einsum: attention and linear patterns equal a brute-force sum") {
  struct Case {
    std::string eq;
    Shape x, w;
  };
  const Case cases[] = {
      {"bhqd,bhkd->bhqk", {2, 2, 3, 4}, {1, 2, 5, 4}},  // Q Kᵀ (K broadcast over the batch)
      {"bhqk,bhkd->bhqd", {2, 2, 3, 5}, {1, 2, 5, 4}},  // P V
      {"bij,jk->bik", {2, 3, 4}, {4, 5}},               // a linear map
      {"bn,dn->bd", {2, 4}, {3, 4}},                    // x Wᵀ
      {"bi,bi->b", {2, 4}, {1, 4}},                     // dot products
      {"bi,j->bij", {2, 3}, {4}},                       // outer product
      {"bqd,bkd->bqk", {2, 3, 4}, {2, 5, 4}},
  };
  for (const Case& c : cases) {
    INFO(c.eq);
    onnx::ModelProto m = graph(12, c.x);
    Tensor w = Tensor::zeros(c.w);
    for (int64_t i = 0; i < w.numel(); ++i) w.set_item(i, std::sin(0.7 * static_cast<double>(i) + 0.3));
    const std::vector<double> wd = values(w);
    std::vector<float> wv(wd.begin(), wd.end());
    init_f32(m, "w", c.w, wv);
    attr_string(node(m, "Einsum", {"x", "w"}, {"y"}), "equation", c.eq);
    output(m, "y");
    Tensor x = Tensor::zeros(c.x);
    for (int64_t i = 0; i < x.numel(); ++i) x.set_item(i, std::cos(1.3 * static_cast<double>(i)));
    check_close(run(m, x), einsum_ref(c.eq, x, w), 1e-5);
  }
  for (const auto& [eq, ref] : std::vector<std::pair<std::string, std::vector<double>>>{
           {"bij->bji", {1, 4, 2, 5, 3, 6}}, {"bij->bj", {5, 7, 9}}, {"bij->b", {21}}}) {
    onnx::ModelProto m = graph(12, {1, 2, 3});
    attr_string(node(m, "Einsum", {"x"}, {"y"}), "equation", eq);
    output(m, "y");
    CHECK(values(run(m, input({1, 2, 3}, {1, 2, 3, 4, 5, 6}))) == ref);
  }
  onnx::ModelProto bad = graph(12, {1, 2, 2});
  attr_string(node(bad, "Einsum", {"x"}, {"y"}, "/e"), "equation", "bii->bi");
  output(bad, "y");
  CHECK(error_of([&] { import_onnx_model(bad, "e.onnx"); }) ==
        "e.onnx: node '/e' (op Einsum, opset 12): Einsum: letter 'i' repeated within operand 'bii' (diagonals) is "
        "not supported");
}

TEST_CASE("onnx Pad-18: pads of the listed axes only") {
  onnx::ModelProto m = graph(18, {1, 2, 2});
  init_i64(m, "pads", {1, 0});  // axis -1: one before, none after
  init_i64(m, "axes", {-1});
  init_f32(m, "value", {}, {9.f});
  node(m, "Pad", {"x", "pads", "value", "axes"}, {"y"});
  output(m, "y");
  Tensor y = run(m, input({1, 2, 2}, {1, 2, 3, 4}));
  CHECK(y.shape() == Shape{1, 2, 3});
  CHECK(values(y) == std::vector<double>{9, 1, 2, 9, 3, 4});
}
