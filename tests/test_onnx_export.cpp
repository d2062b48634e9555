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
TEST_CASE("onnx export: text models re-import with the same logits (to float rounding)") {
  struct Variant {
    const char* name;
    TextModelConfig cfg;
  };
  TextModelConfig base;
  base.vocab_size = 23;
  base.num_classes = 3;
  base.max_len = 9;
  base.embed_dim = 8;
  base.hidden_size = 6;
  std::vector<Variant> variants;
  for (bool bidi : {false, true})
    for (const char* pooling : {"last", "mean"}) {
      TextModelConfig c = base;
      c.bidirectional = bidi;
      c.pooling = pooling;
      variants.push_back({"text-lstm", c});
    }
  for (const char* positional : {"learned", "sinusoidal"})
    for (const char* pooling : {"mean", "first"}) {
      TextModelConfig c = base;
      c.positional = positional;
      c.pooling = pooling;
      c.num_layers = 2;
      variants.push_back({"text-transformer", c});
    }
  // Right-padded ids (pad 0) of several lengths, one with a pad id inside the sequence (read as a token),
  // at two sequence lengths below the maximum.
  Rng rng(11);
  for (const auto& v : variants) {
    CAPTURE(v.name);
    CAPTURE(v.cfg.pooling);
    CAPTURE(v.cfg.positional);
    CAPTURE(v.cfg.bidirectional);
    const Model m = build_text_model(v.name, v.cfg, 5);
    const Model back = round_trip(m);
    for (int64_t T : {9, 5}) {
      Tensor ids({6, T}, DType::I64);
      for (int64_t n = 0; n < 6; ++n) {
        const int64_t len = 1 + (n * 7) % T;
        for (int64_t t = 0; t < T; ++t)
          ids.set_item(n * T + t, t < len ? 1 + static_cast<int64_t>(rng.uniform() * 22) : 0);
      }
      ids.set_item(1, 0);  // sample 0, position 1
      const Tensor y = m.predict(ids), y_back = back.predict(ids);
      double scale = 0;
      for (int64_t i = 0; i < y.numel(); ++i) scale = std::max(scale, std::abs(y.item(i)));
      CHECK(max_abs_diff(y, y_back) <= 1e-5 * (1 + scale));
    }
  }
}
