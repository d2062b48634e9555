#include "models/zoo.h"

#include <cstdlib>
#include <memory>

#include "engine/ops.h"
#include "layers/add.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/embedding.h"
#include "layers/flatten.h"
#include "layers/layer_norm.h"
#include "layers/linear.h"
#include "layers/lstm.h"
#include "layers/maxpool2d.h"
#include "layers/positional_embedding.h"
#include "layers/relu.h"
#include "layers/token_pooling.h"
#include "layers/transformer_encoder.h"
#include "models/token_padding.h"

namespace xdnn {
namespace {

const std::vector<std::string> kFashionClasses = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                  "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

Model image_model() {
  Model m;
  m.add_input("input");
  m.input_shape = {1, 28, 28};
  m.class_names = kFashionClasses;
  return m;
}

std::shared_ptr<Linear> linear(const std::string& name, int64_t in, int64_t out, Rng& rng) {
  auto l = std::make_shared<Linear>(name, in, out);
  l->init(rng);
  return l;
}

std::shared_ptr<Conv2d> conv3x3(const std::string& name, int64_t in, int64_t out, Rng& rng, bool bias = true) {
  auto c = std::make_shared<Conv2d>(name, in, out, 3, 3, Conv2dOptions::same(1, 1, 1, 1, bias));
  c->init(rng);
  return c;
}

Model fashion_mlp(Rng& rng) {
  Model m = image_model();
  m.append("flatten", std::make_shared<Flatten>());
  m.append("fc1", linear("fc1", 784, 64, rng));
  m.append("relu1", std::make_shared<ReLU>());
  m.append("fc2", linear("fc2", 64, 10, rng));
  return m;
}

Model fashion_cnn(Rng& rng) {
  Model m = image_model();
  m.append("conv1", conv3x3("conv1", 1, 8, rng));  // (N, 8, 28, 28)
  m.append("relu1", std::make_shared<ReLU>());
  m.append("pool1", std::make_shared<MaxPool2d>(2));  // (N, 8, 14, 14)
  m.append("conv2", conv3x3("conv2", 8, 16, rng));    // (N, 16, 14, 14)
  m.append("relu2", std::make_shared<ReLU>());
  m.append("pool2", std::make_shared<MaxPool2d>(2));  // (N, 16, 7, 7)
  m.append("flatten", std::make_shared<Flatten>());   // (N, 784)
  m.append("fc", linear("fc", 784, 10, rng));
  return m;
}

// fashion-resnet: two conv-BN-ReLU-pool stages, one residual block (He et al. 2016, "basic block",
// Fig. 2: x + BN(conv(ReLU(BN(conv(x))))), then ReLU) and an MLP head. PyTorch equivalent:
//   conv1 Conv2d(1,16,3,p1,bias=False), bn1, ReLU, MaxPool2d(2)          (N, 16, 14, 14)
//   conv2 Conv2d(16,32,3,p1,bias=False), bn2, ReLU, MaxPool2d(2)         (N, 32, 7, 7)
//   block.conv1/bn1, ReLU, block.conv2/bn2, + identity, ReLU             (N, 32, 7, 7)
//   Flatten, fc1 Linear(1568,128), ReLU, fc2 Linear(128,10)
// About 2.1 M multiply-adds per image (7x fashion-cnn); convs before BN carry no bias (BN's β is it).
Model fashion_resnet(Rng& rng) {
  Model m = image_model();
  m.append("conv1", conv3x3("conv1", 1, 16, rng, false));
  m.append("bn1", std::make_shared<BatchNorm2d>("bn1", 16));
  m.append("relu1", std::make_shared<ReLU>());
  m.append("pool1", std::make_shared<MaxPool2d>(2));
  m.append("conv2", conv3x3("conv2", 16, 32, rng, false));
  m.append("bn2", std::make_shared<BatchNorm2d>("bn2", 32));
  m.append("relu2", std::make_shared<ReLU>());
  m.append("pool2", std::make_shared<MaxPool2d>(2));
  m.append("block.conv1", conv3x3("block.conv1", 32, 32, rng, false));
  m.append("block.bn1", std::make_shared<BatchNorm2d>("block.bn1", 32));
  m.append("block.relu1", std::make_shared<ReLU>());
  m.append("block.conv2", conv3x3("block.conv2", 32, 32, rng, false));
  m.append("block.bn2", std::make_shared<BatchNorm2d>("block.bn2", 32));
  m.add_node("block.add", std::make_shared<Add>(), {"pool2", "block.bn2"}, {"block.add"});
  m.append("block.relu2", std::make_shared<ReLU>());
  m.append("flatten", std::make_shared<Flatten>());  // (N, 1568)
  m.append("fc1", linear("fc1", 32 * 7 * 7, 128, rng));
  m.append("relu3", std::make_shared<ReLU>());
  m.append("fc2", linear("fc2", 128, 10, rng));
  return m;
}

// ---- text models ------------------------------------------------------------------------------------

void check_text_config(const std::string& name, const TextModelConfig& c) {
  auto positive = [&](const char* key, int64_t v) {
    if (v <= 0) throw Error(name + ": " + key + " must be positive, got " + std::to_string(v));
  };
  positive("vocab_size", c.vocab_size);
  positive("num_classes", c.num_classes);
  positive("max_len", c.max_len);
  positive("embed_dim", c.embed_dim);
  positive("hidden_size", c.hidden_size);
  positive("num_layers", c.num_layers);
  positive("num_heads", c.num_heads);
  if (c.pad_id < 0 || c.pad_id >= c.vocab_size)
    throw Error(name + ": pad_id " + std::to_string(c.pad_id) + " is outside the vocabulary [0, " +
                std::to_string(c.vocab_size - 1) + "]");
}

Model text_model_base(const TextModelConfig& c, int64_t max_len_limit, Rng& rng) {
  Model m;
  m.add_input("ids");
  m.input_dtype = DType::I64;
  m.input_shape = {-1};
  m.check_input = true;
  m.add_node("padding", std::make_shared<TokenPadding>(c.vocab_size, max_len_limit, c.pad_id), {"ids"},
             {"lengths", "padding_mask"});
  auto emb = std::make_shared<Embedding>("embedding", c.vocab_size, c.embed_dim);
  emb->init(rng);
  m.add_node("embedding", emb, {"ids"}, {"embedding"});  // (N, T, d)
  return m;
}

// text-lstm: ids -> embedding (N, T, d) -> LSTM over the valid steps -> pooled (N, D·H) -> fc (N, K).
// "last": the final states h_n (the forward direction after the last valid token, the reverse one after
// token 0), flattened; "mean": the mean of the outputs over the valid steps.
Model text_lstm(const TextModelConfig& c, Rng& rng) {
  const std::string pooling = c.pooling.empty() ? "last" : c.pooling;
  if (pooling != "last" && pooling != "mean")
    throw Error("text-lstm: pooling '" + pooling + "' is not supported (last, mean)");
  // The LSTM reads any length; the ids check does not limit T.
  Model m = text_model_base(c, -1, rng);
  auto lstm = std::make_shared<LSTM>("lstm", RecurrentConfig{c.embed_dim, c.hidden_size, 1, c.bidirectional, true});
  lstm->init(rng);
  m.add_node("lstm", lstm, {"embedding", "lengths"}, {"lstm", "lstm.h_n", "lstm.c_n"});
  const int64_t D = c.bidirectional ? 2 : 1;
  if (pooling == "last")
    m.add_node("pool", std::make_shared<Flatten>(), {"lstm.h_n"}, {"pool"});  // (N, D, H) -> (N, D·H)
  else
    m.add_node("pool", std::make_shared<MeanTokenPooling>(), {"lstm", "lengths"}, {"pool"});
  m.add_node("fc", linear("fc", D * c.hidden_size, c.num_classes, rng), {"pool"}, {"logits"});
  m.set_outputs({"logits"});
  return m;
}

// text-transformer (pre-norm, as GPT-2 / ViT): x = embedding + positions; per layer
// x = x + SA(LN1(x)) [padding keys masked], x = x + FF(LN2(x)) with GELU; then LayerNorm "norm",
// pooling ("mean" over the valid tokens, or "first"), fc.
Model text_transformer(const TextModelConfig& c, Rng& rng) {
  const std::string pooling = c.pooling.empty() ? "mean" : c.pooling;
  const std::string positional = c.positional.empty() ? "learned" : c.positional;
  if (pooling != "mean" && pooling != "first")
    throw Error("text-transformer: pooling '" + pooling + "' is not supported (mean, first)");
  if (positional != "learned" && positional != "sinusoidal")
    throw Error("text-transformer: positional '" + positional + "' is not supported (learned, sinusoidal)");
  if (c.embed_dim % c.num_heads != 0)
    throw Error("text-transformer: embed_dim " + std::to_string(c.embed_dim) + " is not a multiple of num_heads " +
                std::to_string(c.num_heads));
  Model m = text_model_base(c, c.max_len, rng);
  if (positional == "learned") {
    auto pos = std::make_shared<LearnedPositionalEmbedding>("pos_embedding.weight", c.max_len, c.embed_dim);
    pos->init(rng);
    m.add_node("pos_embedding", pos, {"embedding"}, {"pos_embedding"});
  } else {
    m.add_node("pos_embedding", std::make_shared<SinusoidalPositionalEncoding>(), {"embedding"}, {"pos_embedding"});
  }
  std::string x = "pos_embedding";
  for (int64_t k = 0; k < c.num_layers; ++k) {
    const std::string name = "layers." + std::to_string(k);
    TransformerEncoderConfig ec{c.embed_dim, c.num_heads, c.hidden_size, true, true, false, 1e-5};
    auto enc = std::make_shared<TransformerEncoderLayer>(name, ec);
    enc->init(rng);
    m.add_node(name, enc, {x, "padding_mask"}, {name});
    x = name;
  }
  m.add_node("norm", std::make_shared<LayerNorm>("norm", Shape{c.embed_dim}), {x}, {"norm"});
  if (pooling == "mean")
    m.add_node("pool", std::make_shared<MeanTokenPooling>(), {"norm", "lengths"}, {"pool"});
  else
    m.add_node("pool", std::make_shared<FirstTokenPooling>(), {"norm"}, {"pool"});
  m.add_node("fc", linear("fc", c.embed_dim, c.num_classes, rng), {"pool"}, {"logits"});
  m.set_outputs({"logits"});
  return m;
}

}  // namespace

bool is_text_zoo_name(const std::string& name) { return name == "text-lstm" || name == "text-transformer"; }

Model build_text_model(const std::string& name, const TextModelConfig& cfg, uint64_t seed) {
  if (!is_text_zoo_name(name)) throw Error("'" + name + "' is not a text model (text-lstm, text-transformer)");
  check_text_config(name, cfg);
  Rng rng(seed);
  return name == "text-lstm" ? text_lstm(cfg, rng) : text_transformer(cfg, rng);
}

void put_text_config_metadata(Metadata& m, const TextModelConfig& c) {
  m["text.vocab_size"] = std::to_string(c.vocab_size);
  m["text.num_classes"] = std::to_string(c.num_classes);
  m["text.max_len"] = std::to_string(c.max_len);
  m["text.pad_id"] = std::to_string(c.pad_id);
  m["text.embed_dim"] = std::to_string(c.embed_dim);
  m["text.hidden_size"] = std::to_string(c.hidden_size);
  m["text.bidirectional"] = c.bidirectional ? "true" : "false";
  m["text.num_layers"] = std::to_string(c.num_layers);
  m["text.num_heads"] = std::to_string(c.num_heads);
  m["text.pooling"] = c.pooling;
  m["text.positional"] = c.positional;
}

TextModelConfig text_config_from_metadata(const Metadata& m, const std::string& source) {
  auto get = [&](const std::string& key) {
    auto it = m.find(key);
    if (it == m.end()) throw Error(source + ": metadata has no '" + key + "' entry (a text model needs its sizes)");
    return it->second;
  };
  auto get_int = [&](const std::string& key) {
    const std::string s = get(key);
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end) throw Error(source + ": metadata '" + key + "' is '" + s + "', expected an integer");
    return static_cast<int64_t>(v);
  };
  TextModelConfig c;
  c.vocab_size = get_int("text.vocab_size");
  c.num_classes = get_int("text.num_classes");
  c.max_len = get_int("text.max_len");
  c.pad_id = get_int("text.pad_id");
  c.embed_dim = get_int("text.embed_dim");
  c.hidden_size = get_int("text.hidden_size");
  const std::string bidi = get("text.bidirectional");
  if (bidi != "true" && bidi != "false")
    throw Error(source + ": metadata 'text.bidirectional' is '" + bidi + "', expected true or false");
  c.bidirectional = bidi == "true";
  c.num_layers = get_int("text.num_layers");
  c.num_heads = get_int("text.num_heads");
  c.pooling = get("text.pooling");
  c.positional = get("text.positional");
  return c;
}

std::vector<std::string> zoo_names() { return {"fashion-mlp", "fashion-cnn", "fashion-resnet"}; }
std::vector<std::string> text_zoo_names() { return {"text-lstm", "text-transformer"}; }

bool is_zoo_name(const std::string& name) {
  for (const auto& n : zoo_names())
    if (n == name) return true;
  return is_text_zoo_name(name);
}

Model build_zoo_model(const std::string& name, uint64_t seed) {
  Rng rng(seed);
  if (name == "fashion-mlp") return fashion_mlp(rng);
  if (name == "fashion-cnn") return fashion_cnn(rng);
  if (name == "fashion-resnet") return fashion_resnet(rng);
  if (is_text_zoo_name(name))
    throw Error("'" + name + "' needs the data set's sizes (vocabulary, classes, max length)",
                "train one with `xdnn train --model " + name + " --data ...` and load its checkpoint");
  std::string valid;
  for (const auto& n : zoo_names()) valid += (valid.empty() ? "" : ", ") + n;
  for (const auto& n : text_zoo_names()) valid += ", " + n;
  throw Error("unknown model '" + name + "'", "valid zoo models: " + valid + " (or a path to an .onnx file)");
}

}  // namespace xdnn
