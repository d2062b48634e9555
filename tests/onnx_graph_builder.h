// Running and checking the small ONNX graphs of tests/onnx_builder.h in the importer's tests (tests/test_onnx*.cpp).
#pragma once
#include <doctest/doctest.h>
#include <onnx/onnx_pb.h>

#include <functional>
#include <string>
#include <vector>

#include "models/onnx/import.h"
#include "tests/file_fixtures.h"
#include "tests/onnx_builder.h"

namespace xdnn::onnx_test {

// error_of: tests/file_fixtures.h
using testing::error_of;

inline Tensor input(const Shape& s, std::vector<float> v) { return Tensor::from_vector(s, v); }

inline Tensor run(const onnx::ModelProto& m, const Tensor& x) { return import_onnx_model(m, "t.onnx").predict(x); }

inline std::vector<double> values(const Tensor& t) {
  std::vector<double> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.item(i);
  return v;
}

inline void check_close(const Tensor& y, const std::vector<double>& ref, double tol = 1e-6) {
  REQUIRE(static_cast<size_t>(y.numel()) == ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    INFO("element ", i);
    CHECK(y.item(static_cast<int64_t>(i)) == doctest::Approx(ref[i]).epsilon(tol));
  }
}

}  // namespace xdnn::onnx_test
