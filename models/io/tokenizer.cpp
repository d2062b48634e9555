// Tokenizers, vocabulary, encodings. See tokenizer.h for the conventions.
#include "models/io/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/file_io.h"

namespace xdnn::text {

namespace {

bool is_letter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80; }

// Length of the UTF-8 sequence starting at s[i], or 1 when it is not a valid sequence (so a stray
// byte becomes a token of its own).
size_t utf8_length(std::string_view s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 1;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return 1;
  return n;
}

}  // namespace

const char* token_level_name(TokenLevel level) { return level == TokenLevel::Word ? "word" : "char"; }

TokenLevel parse_token_level(const std::string& name) {
  if (name == "word") return TokenLevel::Word;
  if (name == "char") return TokenLevel::Char;
  throw Error("unknown token level '" + printable(name) + "' (expected \"word\" or \"char\")");
}

std::vector<std::string> word_tokens(std::string_view text) {
  std::vector<std::string> out;
  std::string word;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (is_letter(c)) {
      word += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
    } else if (c == '\'' && !word.empty() && i + 1 < text.size() &&
               is_letter(static_cast<unsigned char>(text[i + 1]))) {
      word += '\'';  // inside a word: "don't", "emma's"
    } else if (!word.empty()) {
      out.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) out.push_back(std::move(word));
  return out;
}

std::vector<std::string> char_tokens(std::string_view text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_length(text, i);
    out.emplace_back(text.substr(i, n));
    i += n;
  }
  return out;
}

std::vector<std::string> tokenize(TokenLevel level, std::string_view text) {
  return level == TokenLevel::Word ? word_tokens(text) : char_tokens(text);
}

Vocabulary::Vocabulary(TokenLevel level, std::vector<std::string> tokens) : level_(level), tokens_(std::move(tokens)) {
  if (tokens_.size() < 2 || tokens_[0] != kPadToken || tokens_[1] != kUnkToken) {
    throw Error("vocabulary: expected \"<pad>\" and \"<unk>\" as tokens 0 and 1");
  }
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (!index_.emplace(tokens_[i], static_cast<int64_t>(i)).second) {
      throw Error("vocabulary: token '" + printable(tokens_[i]) + "' appears twice (ids " +
                  std::to_string(index_[tokens_[i]]) + " and " + std::to_string(i) + ")");
    }
  }
}

int64_t Vocabulary::id(const std::string& token) const {
  const auto it = index_.find(token);
  return it == index_.end() ? kUnkId : it->second;
}

const std::string& Vocabulary::token(int64_t id) const {
  if (id < 0 || id >= size()) {
    throw Error("vocabulary: token id " + std::to_string(id) + " out of range [0, " + std::to_string(size()) + ")");
  }
  return tokens_[static_cast<size_t>(id)];
}

Vocabulary build_vocabulary(const std::vector<std::string>& texts, TokenLevel level, int64_t max_tokens,
                            int64_t min_count) {
  std::map<std::string, int64_t> counts;  // ordered: the tie-break below does not depend on hashing
  for (const std::string& t : texts)
    for (std::string& tok : tokenize(level, t)) ++counts[std::move(tok)];
  counts.erase(kPadToken);
  counts.erase(kUnkToken);
  std::vector<std::pair<std::string, int64_t>> sorted;
  for (auto& [tok, n] : counts)
    if (n >= min_count) sorted.emplace_back(tok, n);
  // Stable sort on a byte-ordered list: equal counts stay in byte order of the token.
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  if (max_tokens >= 0 && static_cast<int64_t>(sorted.size()) > max_tokens)
    sorted.resize(static_cast<size_t>(max_tokens));
  std::vector<std::string> tokens = {kPadToken, kUnkToken};
  for (auto& [tok, n] : sorted) tokens.push_back(tok);
  return Vocabulary(level, std::move(tokens));
}

Encoded encode(const Vocabulary& vocab, const std::vector<std::string>& texts, int64_t max_len) {
  if (max_len < 1) throw Error("encode: max_len must be >= 1, got " + std::to_string(max_len));
  const int64_t n = static_cast<int64_t>(texts.size());
  Encoded e{Tensor::zeros({n, max_len}, DType::I64), Tensor::zeros({n}, DType::I64)};
  int64_t* ids = e.ids.data<int64_t>();
  int64_t* lengths = e.lengths.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const std::vector<std::string> toks = tokenize(vocab.level(), texts[static_cast<size_t>(i)]);
    const int64_t len = std::min<int64_t>(max_len, static_cast<int64_t>(toks.size()));
    for (int64_t t = 0; t < len; ++t) ids[i * max_len + t] = vocab.id(toks[static_cast<size_t>(t)]);
    lengths[i] = len;
  }
  return e;
}

Tensor padding_mask(const Tensor& lengths, int64_t max_len) {
  if (lengths.dtype() != DType::I64 || lengths.ndim() != 1) {
    throw Error("padding_mask: lengths must be int64 (N,), got " + lengths.describe());
  }
  const int64_t n = lengths.dim(0);
  Tensor mask = Tensor::zeros({n, max_len}, DType::F32);
  float* m = mask.data<float>();
  const int64_t* len = lengths.data<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t t = 0; t < std::min(len[i], max_len); ++t) m[i * max_len + t] = 1.0f;
  return mask;
}

std::vector<std::string> decode(const Vocabulary& vocab, const Tensor& ids, int64_t row, int64_t length) {
  if (ids.dtype() != DType::I64 || ids.ndim() != 2)
    throw Error("decode: ids must be int64 (N, T), got " + ids.describe());
  if (row < 0 || row >= ids.dim(0))
    throw Error("decode: row " + std::to_string(row) + " out of range for " + ids.describe());
  const int64_t t_max = ids.dim(1);
  const int64_t* p = ids.data<int64_t>() + row * t_max;
  std::vector<std::string> out;
  for (int64_t t = 0; t < (length < 0 ? t_max : std::min(length, t_max)); ++t) {
    if (length < 0 && p[t] == kPadId) break;
    out.push_back(vocab.token(p[t]));
  }
  return out;
}

std::string join_tokens(const Vocabulary& vocab, const std::vector<std::string>& tokens) {
  std::string s;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0 && vocab.level() == TokenLevel::Word) s += ' ';
    s += tokens[i];
  }
  return s;
}

void save_vocabulary(const std::string& path, const Vocabulary& vocab, const std::vector<std::string>& class_names) {
  nlohmann::json j;
  j["format"] = "xdnn-vocabulary-1";
  j["level"] = token_level_name(vocab.level());
  j["pad"] = kPadId;
  j["unk"] = kUnkId;
  j["tokens"] = vocab.tokens();
  j["class_names"] = class_names;
  // Invalid UTF-8 (a stray byte token) is written as U+FFFD rather than throwing.
  write_file_atomic(path, {j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"});
}

VocabularyFile load_vocabulary(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error(path + ": cannot open vocabulary file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON (" + printable(e.what(), 120) + ")");
  }
  auto field = [&](const char* key) -> const nlohmann::json& {
    if (!j.is_object() || !j.contains(key)) throw Error(path + ": missing key \"" + key + "\"");
    return j[key];
  };
  if (field("format") != "xdnn-vocabulary-1") throw Error(path + ": expected \"format\": \"xdnn-vocabulary-1\"");
  const nlohmann::json& level = field("level");
  const nlohmann::json& tokens = field("tokens");
  if (!level.is_string()) throw Error(path + ": \"level\" must be a string");
  if (!tokens.is_array()) throw Error(path + ": \"tokens\" must be an array of strings");
  auto strings = [&](const nlohmann::json& a, const char* key) {
    std::vector<std::string> v;
    for (const auto& x : a) {
      if (!x.is_string()) throw Error(path + ": \"" + key + "\" must be an array of strings");
      v.push_back(x.get<std::string>());
    }
    return v;
  };
  try {
    VocabularyFile out{Vocabulary(parse_token_level(level.get<std::string>()), strings(tokens, "tokens")), {}};
    if (j.contains("class_names")) {
      if (!j["class_names"].is_array()) throw Error(path + ": \"class_names\" must be an array of strings");
      out.class_names = strings(j["class_names"], "class_names");
    }
    return out;
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.rfind(path, 0) == 0) throw;
    throw Error(path + ": " + msg);
  }
}

std::string vocabulary_path_for_checkpoint(const std::string& checkpoint_path) {
  return (std::filesystem::path(checkpoint_path).parent_path() / "vocab.json").string();
}

TextDataset make_text_dataset(std::vector<std::string> texts, const std::vector<int64_t>& labels,
                              std::vector<std::string> class_names, Vocabulary vocab, int64_t max_len) {
  if (texts.size() != labels.size()) {
    throw Error("make_text_dataset: " + std::to_string(texts.size()) + " texts but " + std::to_string(labels.size()) +
                " labels");
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= static_cast<int64_t>(class_names.size())) {
      throw Error("make_text_dataset: label " + std::to_string(labels[i]) + " of text " + std::to_string(i) +
                  " out of range [0, " + std::to_string(class_names.size()) + ")");
    }
  }
  Encoded e = encode(vocab, texts, max_len);
  TextDataset d;
  d.ids = std::move(e.ids);
  d.lengths = std::move(e.lengths);
  d.labels = Tensor::from_vector({static_cast<int64_t>(labels.size())}, labels);
  d.class_names = std::move(class_names);
  d.vocab = std::move(vocab);
  d.texts = std::move(texts);
  return d;
}

}  // namespace xdnn::text
