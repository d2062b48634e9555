// Text models of the zoo (text-lstm, text-transformer) trained with models/train/train.h on a tiny hand-made
// trigger task: the loss falls, padding is honoured (a padded sample scores like the unpadded one), the
// whole-model gradient matches finite differences (float64), checkpoints rebuild the model from their
// metadata and reproduce its outputs bit for bit, and bad ids fail with one line naming the input,
// the value and the valid range.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "explain/targets.h"
#include "models/load.h"
#include "models/train/checkpoint.h"
#include "models/train/train.h"
#include "models/zoo.h"
#include "tests/gradcheck.h"

using namespace xdnn;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& tag) {
  fs::path d = fs::temp_directory_path() / ("xdnn_test_text_train_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// Trigger task by hand: V = 10 (0 = padding, 1..6 filler, 7/8/9 the triggers of classes 0/1/2), T = 8,
// each sample 3..8 tokens long, exactly one trigger at a random position, right-padded with 0.
constexpr int64_t kVocab = 10, kMaxLen = 8, kClasses = 3;

LabeledData tiny_trigger(int64_t n, uint64_t seed) {
  Rng rng(seed);
  LabeledData d{Tensor({n, kMaxLen}, DType::I64), Tensor({n}, DType::I64)};
  int64_t* x = d.x.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = static_cast<int64_t>(rng.below(kClasses));
    const int64_t len = 3 + static_cast<int64_t>(rng.below(kMaxLen - 2));
    const int64_t at = static_cast<int64_t>(rng.below(static_cast<uint64_t>(len)));
    for (int64_t t = 0; t < kMaxLen; ++t)
      x[i * kMaxLen + t] = t >= len ? 0 : t == at ? 7 + k : 1 + static_cast<int64_t>(rng.below(6));
    d.y.data<int64_t>()[i] = k;
  }
  return d;
}

TextModelConfig tiny_config(const std::string& arch) {
  TextModelConfig c;
  c.vocab_size = kVocab;
  c.num_classes = kClasses;
  c.max_len = kMaxLen;
  c.embed_dim = 8;
  c.hidden_size = arch == "text-lstm" ? 8 : 16;
  return c;
}

Tensor ids(Shape shape, std::vector<int64_t> v) { return Tensor::from_vector(std::move(shape), v); }

std::string error_of(const Model& m, const Tensor& x) {
  try {
    m.predict(x);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("text models: the training loss falls on a tiny trigger task") {
  const LabeledData train = tiny_trigger(96, 1), test = tiny_trigger(48, 2);
  for (const std::string arch : {"text-lstm", "text-transformer"}) {
    CAPTURE(arch);
    Model m = build_text_model(arch, tiny_config(arch), 3);
    TrainConfig cfg;
    cfg.architecture = arch;
    cfg.epochs = 12;
    cfg.seed = 3;
    cfg.optimizer.lr = 0.02;
    cfg.batch_size = 16;
    cfg.progress = false;
    const double before = evaluate(m, train).loss;
    auto results = train_model(m, train, test, cfg);
    REQUIRE(results.size() == 12);
    // Untrained: about ln 3 ≈ 1.1. Trained: the trigger decides the class, so the loss collapses.
    CHECK(before > 0.8);
    CHECK(results.back().train_loss < 0.35 * before);
    CHECK(results.back().train_loss < results.front().train_loss);
    CHECK(results.back().test.accuracy > 0.8);
  }
}

TEST_CASE("text models: padding is honoured (padded sample == unpadded sample)") {
  // Every variant: LSTM last / mean, unidirectional / bidirectional; transformer mean / first, learned /
  // sinusoidal positions, two layers. Padding changes nothing but the tensor's width.
  struct Variant {
    std::string arch, pooling, positional;
    bool bidirectional;
  };
  const std::vector<Variant> variants = {{"text-lstm", "last", "", false},
                                         {"text-lstm", "last", "", true},
                                         {"text-lstm", "mean", "", true},
                                         {"text-transformer", "mean", "learned", false},
                                         {"text-transformer", "first", "sinusoidal", false}};
  for (const auto& v : variants) {
    CAPTURE(v.arch);
    CAPTURE(v.pooling);
    TextModelConfig c = tiny_config(v.arch);
    c.pooling = v.pooling;
    c.positional = v.positional;
    c.bidirectional = v.bidirectional;
    c.num_layers = v.arch == "text-transformer" ? 2 : 1;
    Model m = build_text_model(v.arch, c, 7);
    m.to(DType::F64);
    const Tensor short_ids = ids({1, 4}, {3, 8, 1, 5});
    const Tensor padded = ids({1, 7}, {3, 8, 1, 5, 0, 0, 0});
    const Tensor a = m.predict(short_ids), b = m.predict(padded);
    REQUIRE(a.shape() == Shape{1, kClasses});
    CHECK(testing::max_rel_diff(b, a) < 1e-12);
    // ... while a different token does change the output (the comparison above can fail).
    CHECK(testing::max_rel_diff(m.predict(ids({1, 4}, {3, 9, 1, 5})), a) > 1e-6);
  }
}

TEST_CASE("text models: whole-model parameter gradient matches finite differences (float64)") {
  for (const std::string arch : {"text-lstm", "text-transformer"}) {
    CAPTURE(arch);
    TextModelConfig c = tiny_config(arch);
    c.embed_dim = 4;
    c.hidden_size = 4;
    c.bidirectional = true;
    Model m = build_text_model(arch, c, 11);
    m.to(DType::F64);
    const Tensor x = ids({2, 5}, {1, 8, 2, 0, 0, 4, 4, 9, 6, 3});
    const Tensor y = ids({2}, {1, 2});
    auto loss = [&] { return softmax_cross_entropy(m.predict(x), y, nullptr); };
    Tape tape = m.forward({x});
    Tensor g;
    softmax_cross_entropy(tape.values[m.outputs()[0]], y, &g);
    for (Param* p : m.params()) p->grad = Tensor();
    BackwardOptions bopt;
    bopt.param_grad = ParamGrad::Accumulate;
    m.backward(tape, {{m.outputs()[0], g}}, bopt);
    for (Param* p : m.params()) {
      CAPTURE(p->name);
      REQUIRE(p->grad.defined());
      const Tensor numeric = testing::numeric_gradient(loss, p->value);
      CHECK(testing::max_rel_diff(p->grad, numeric) < 1e-6);
    }
  }
}

TEST_CASE("text models: a checkpoint rebuilds the model and reproduces its outputs bit for bit") {
  const LabeledData train = tiny_trigger(32, 4), test = tiny_trigger(16, 5);
  const fs::path dir = temp_dir("ckpt");
  for (const std::string arch : {"text-lstm", "text-transformer"}) {
    CAPTURE(arch);
    TextModelConfig c = tiny_config(arch);
    c.bidirectional = true;
    Model m = build_text_model(arch, c, 2);
    TrainConfig cfg;
    cfg.architecture = arch;
    cfg.epochs = 1;
    cfg.seed = 2;
    cfg.progress = false;
    cfg.out_dir = (dir / arch).string();
    put_text_config_metadata(cfg.extra_metadata, c);
    cfg.extra_metadata["class_names"] = class_names_metadata({"seven", "eight", "nine"});
    auto r = train_model(m, train, test, cfg);
    REQUIRE(fs::exists(r.back().checkpoint));
    Model loaded = load_model(r.back().checkpoint);
    CHECK(loaded.class_names == std::vector<std::string>{"seven", "eight", "nine"});
    const Tensor a = m.predict(test.x), b = loaded.predict(test.x);
    REQUIRE(a.shape() == b.shape());
    bool identical = true;
    for (int64_t i = 0; i < a.numel(); ++i) identical = identical && a.data<float>()[i] == b.data<float>()[i];
    CHECK(identical);
    // "ARCH:path" names the architecture explicitly; the sizes still come from the metadata.
    CHECK(load_model(arch + ":" + r.back().checkpoint).params().size() == m.params().size());
    // The same weights under another architecture's name fail on the first missing tensor.
    const std::string other = arch == "text-lstm" ? "text-transformer" : "text-lstm";
    CHECK_THROWS_WITH_AS(load_model(other + ":" + r.back().checkpoint), doctest::Contains("is missing"), Error);
  }
  // A text name alone has no sizes.
  CHECK_THROWS_WITH_AS(load_model("text-lstm"), doctest::Contains("needs the data set's sizes"), Error);
  // Metadata without the sizes (a fashion checkpoint renamed, say) names the missing key.
  Metadata no_sizes;
  CHECK_THROWS_WITH_AS(text_config_from_metadata(no_sizes, "x.safetensors"),
                       doctest::Contains("x.safetensors: metadata has no 'text.vocab_size'"), Error);
  fs::remove_all(dir);
}

TEST_CASE("text models: bad ids are one-line errors naming the input, the value and the valid range") {
  Model lstm = build_text_model("text-lstm", tiny_config("text-lstm"), 1);
  Model tr = build_text_model("text-transformer", tiny_config("text-transformer"), 1);
  for (Model* m : {&lstm, &tr}) {
    std::string e = error_of(*m, ids({1, 3}, {1, 10, 2}));
    CHECK(e.find("input 'ids': id 10 at sample 0, position 1 is outside the vocabulary [0, 9]") != std::string::npos);
    e = error_of(*m, ids({2, 2}, {1, 2, 3, -4}));
    CHECK(e.find("id -4 at sample 1, position 1 is outside the vocabulary [0, 9]") != std::string::npos);
    e = error_of(*m, Tensor({1, 3}, DType::F32));
    CHECK(e.find("input 'ids': expected int64") != std::string::npos);
    CHECK(e.find("got float32 (1, 3)") != std::string::npos);
    // Through the explainers' entry point too, whatever dtype the model computes in (explain's default is
    // float64): the message names the float32 the caller gave, not a converted copy.
    m->to(DType::F64);
    CHECK_THROWS_WITH_AS(explain::resolve_targets(*m, Tensor({1, 3}, DType::F32), -1),
                         doctest::Contains("got float32 (1, 3)"), Error);
    m->to(DType::F32);
    e = error_of(*m, Tensor({2, 0}, DType::I64));
    CHECK(e.find("input 'ids': empty sequences (T = 0)") != std::string::npos);
    e = error_of(*m, ids({2, 3}, {1, 2, 0, 0, 0, 0}));
    CHECK(e.find("input 'ids': sample 1 is empty (only padding id 0)") != std::string::npos);
    e = error_of(*m, ids({3}, {1, 2, 3}));
    CHECK(e.find("input 'ids': expected int64 (N, ?), got int64 (3,)") != std::string::npos);
    CHECK(e.find('\n') == std::string::npos);
  }
  // Longer than the positional table: the transformer refuses, the LSTM reads any length.
  std::vector<int64_t> long_ids(kMaxLen + 1, 3);
  CHECK(error_of(tr, ids({1, kMaxLen + 1}, long_ids))
            .find("input 'ids': sequence length 9 is longer than the model's positional table, expected a length "
                  "in 1..8") != std::string::npos);
  CHECK(lstm.predict(ids({1, kMaxLen + 1}, long_ids)).shape() == Shape{1, kClasses});
  // Bad sizes when building.
  TextModelConfig c = tiny_config("text-transformer");
  c.embed_dim = 6;
  c.num_heads = 4;
  CHECK_THROWS_WITH_AS(build_text_model("text-transformer", c, 0), doctest::Contains("not a multiple of num_heads"),
                       Error);
  c = tiny_config("text-lstm");
  c.vocab_size = 0;
  CHECK_THROWS_WITH_AS(build_text_model("text-lstm", c, 0), doctest::Contains("vocab_size must be positive, got 0"),
                       Error);
  c = tiny_config("text-lstm");
  c.pooling = "max";
  CHECK_THROWS_WITH_AS(build_text_model("text-lstm", c, 0), doctest::Contains("pooling 'max' is not supported"), Error);
}
