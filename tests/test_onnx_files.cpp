// The ONNX file reader (models/onnx/onnx_file.cpp): raw and typed initializers, external data (the
// default of torch.onnx.export's dynamo path) and its errors, against the in-memory import.
#include <doctest/doctest.h>

#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "models/load.h"
#include "tests/onnx_graph_builder.h"

using namespace xdnn;
using namespace xdnn::onnx_test;

TEST_CASE("onnx file reader: raw and typed initializers give the same model as the in-memory import") {
  onnx::ModelProto m = graph(13, {1, 3});
  init_f32(m, "fc.weight", {2, 3}, {1, 2, 3, 4, 5, 6}, true);
  init_f32(m, "fc.bias", {2}, {0.5f, -0.5f}, false);
  auto* b16 = m.mutable_graph()->add_initializer();  // int32 in raw form, widened to int64
  b16->set_name("shape"), b16->set_data_type(onnx::TensorProto::INT32), b16->add_dims(2);
  const int32_t sv[2] = {-1, 2};
  b16->set_raw_data(std::string(reinterpret_cast<const char*>(sv), sizeof sv));
  auto* gemm = node(m, "Gemm", {"x", "fc.weight", "fc.bias"}, {"h"});
  attr_int(gemm, "transB", 1);
  node(m, "Reshape", {"h", "shape"}, {"y"});
  output(m, "y");
  const std::string path = "/tmp/xdnn_test_onnx_reader_" + std::to_string(::getpid()) + ".onnx";
  {
    std::ofstream f(path, std::ios::binary);
    f << m.SerializeAsString();
  }
  Tensor x = input({2, 3}, {1, 0, -1, 2, 1, 0});
  Tensor a = load_onnx(path).predict(x), b = import_onnx_model(m, path).predict(x);
  CHECK(bitwise_equal(a, b));
  check_close(a, {-1.5, -2.5, 4.5, 12.5});
  std::remove(path.c_str());
}

TEST_CASE("onnx external data: weights in a file next to the model, and the errors when it is wrong") {
  const std::string dir = "/tmp/xdnn_test_onnx_external_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::vector<float> w = {1, 2, 3, 4, 5, 6}, b = {0.5f, -0.5f};
  {  // 8 bytes of padding, then the weight, then the bias
    std::ofstream f(dir + "/m.onnx.data", std::ios::binary);
    f << std::string(8, '\0');
    f.write(reinterpret_cast<const char*>(w.data()), 24);
    f.write(reinterpret_cast<const char*>(b.data()), 8);
  }
  auto external = [](onnx::ModelProto& m, const std::string& name, const Shape& dims, const std::string& location,
                     const std::string& offset, const std::string& length) {
    auto* t = m.mutable_graph()->add_initializer();
    t->set_name(name), t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
             {"location", location}, {"offset", offset}, {"length", length}}) {
      auto* e = t->add_external_data();
      e->set_key(k), e->set_value(v);
    }
  };
  auto model = [&](const std::string& location, const std::string& w_length) {
    onnx::ModelProto m = graph(20, {1, 3});
    external(m, "fc.weight", {2, 3}, location, "8", w_length);
    external(m, "fc.bias", {2}, location, "32", "8");
    attr_int(node(m, "Gemm", {"x", "fc.weight", "fc.bias"}, {"y"}, "/fc"), "transB", 1);
    output(m, "y");
    std::ofstream(dir + "/m.onnx", std::ios::binary) << m.SerializeAsString();
    return m;
  };
  const Tensor x = input({1, 3}, {1, 0, -1});
  onnx::ModelProto good = model("m.onnx.data", "24");
  check_close(load_onnx(dir + "/m.onnx").predict(x), {-1.5, -2.5});
  check_close(import_onnx_model(good, dir + "/m.onnx").predict(x), {-1.5, -2.5});

  model("m.onnx.data", "28");
  CHECK(error_of([&] { load_onnx(dir + "/m.onnx"); }) ==
        dir + "/m.onnx: initializer 'fc.weight': raw data has 28 bytes, shape (2, 3) needs 24");
  model("missing.data", "24");
  CHECK(error_of([&] { load_onnx(dir + "/m.onnx"); }) ==
        dir + "/m.onnx: initializer 'fc.weight': cannot open its " + "external data file '" + dir + "/missing.data'");
  model("../etc/passwd", "24");
  CHECK(error_of([&] { load_onnx(dir + "/m.onnx"); }) ==
        dir + "/m.onnx: initializer 'fc.weight': external data location '../etc/passwd' must be a relative path " +
            "inside the model's folder");
  model("m.onnx.data", "4000");
  CHECK(error_of([&] { load_onnx(dir + "/m.onnx"); }) ==
        dir + "/m.onnx: initializer 'fc.weight': external data (offset 8, length 4000) extends past the end of '" +
            dir + "/m.onnx.data' (40 bytes)");
  std::filesystem::remove_all(dir);
}

TEST_CASE("onnx initializers: a shape the data does not fill is refused before anything is allocated") {
  // Found by tests/fuzz/fuzz_onnx_graph.cpp: dims (2^33) over 4 bytes of data made a 32 GiB allocation
  // (an abort under ASan, "out of memory" naming nothing elsewhere) before the data's size was checked.
  onnx::ModelProto m = graph(13, {1, 3});
  init_f32(m, "big", {int64_t(1) << 33}, {1}, true);
  node(m, "Add", {"x", "big"}, {"y"});
  output(m, "y");
  CHECK(error_of([&] { import_onnx_model(m, "m.onnx"); }) ==
        "m.onnx: initializer 'big': raw data has 4 bytes, shape (8589934592,) needs 34359738368");
  m.mutable_graph()->mutable_initializer(0)->clear_raw_data();
  m.mutable_graph()->mutable_initializer(0)->add_float_data(1);
  CHECK(error_of([&] { import_onnx_model(m, "m.onnx"); }) ==
        "m.onnx: initializer 'big': holds 1 values, its shape (8589934592,) needs 8589934592");
}

TEST_CASE("onnx Mod: integer (sign of the divisor) and fmod (sign of the dividend)") {
  for (int fmod : {0, 1}) {
    onnx::ModelProto m = graph(13, {1, 4}, onnx::TensorProto::INT64);
    init_i64(m, "d", {3, -3, 3, -3});
    attr_int(node(m, "Mod", {"x", "d"}, {"y"}), "fmod", fmod);
    output(m, "y");
    const Tensor x = Tensor::from_vector({1, 4}, std::vector<int64_t>{7, 7, -7, -7});
    const std::vector<double> ref = fmod ? std::vector<double>{1, 1, -1, -1} : std::vector<double>{1, -2, 2, -1};
    CHECK(values(import_onnx_model(m, "mod.onnx").predict(x)) == ref);
  }
}
