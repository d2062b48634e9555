// Text -> token ids for the sequence models: a vocabulary, word- and character-level tokenizers,
// padded int64 encodings, decoding back to tokens, the vocabulary as JSON next to a checkpoint, and
// TextDataset (what the text loaders in corpus.h and trigger_task.h return).
//
// Conventions
// - Id 0 is "<pad>", id 1 is "<unk>" in every vocabulary; real tokens start at 2.
// - Word level: ASCII lower-cased; a word is a maximal run of letters (ASCII letters and any byte
//   >= 0x80, so UTF-8 letters stay whole), where an apostrophe between two letters stays inside the
//   word ("don't", "emma's"); everything else separates words. Decoding joins words with spaces.
// - Character level: one token per UTF-8 code point (case kept; a byte that is not valid UTF-8 is its
//   own token). Decoding concatenates.
// - Encodings keep the first max_len tokens (truncation at the end) and pad on the right with 0.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/tensor.h"

namespace xdnn::text {

constexpr int64_t kPadId = 0;
constexpr int64_t kUnkId = 1;
inline const char* const kPadToken = "<pad>";
inline const char* const kUnkToken = "<unk>";

enum class TokenLevel { Word, Char };
const char* token_level_name(TokenLevel level);         // "word" / "char"
TokenLevel parse_token_level(const std::string& name);  // throws naming the value otherwise

std::vector<std::string> word_tokens(std::string_view text);
std::vector<std::string> char_tokens(std::string_view text);
std::vector<std::string> tokenize(TokenLevel level, std::string_view text);

class Vocabulary {
 public:
  Vocabulary() : Vocabulary(TokenLevel::Word, {kPadToken, kUnkToken}) {}
  // tokens[0] must be "<pad>", tokens[1] "<unk>", no duplicates (throws otherwise).
  Vocabulary(TokenLevel level, std::vector<std::string> tokens);

  TokenLevel level() const { return level_; }
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  const std::vector<std::string>& tokens() const { return tokens_; }
  int64_t id(const std::string& token) const;  // kUnkId when absent
  bool contains(const std::string& token) const { return index_.count(token) != 0; }
  const std::string& token(int64_t id) const;  // throws when out of range

 private:
  TokenLevel level_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> index_;
};

// The max_tokens most frequent tokens of `texts` (those seen at least min_count times), most frequent
// first, ties in byte order of the token; plus <pad> and <unk>. max_tokens < 0: all of them.
// Build it from the TRAINING texts only: test words then map to <unk> as they would in deployment.
Vocabulary build_vocabulary(const std::vector<std::string>& texts, TokenLevel level, int64_t max_tokens,
                            int64_t min_count = 1);

struct Encoded {
  Tensor ids;      // int64 (N, max_len), right-padded with kPadId
  Tensor lengths;  // int64 (N,), tokens kept per row (<= max_len; 0 for an empty text)
};
Encoded encode(const Vocabulary& vocab, const std::vector<std::string>& texts, int64_t max_len);
// float32 (N, T): 1 at positions < lengths[n], 0 at padding. lengths: int64 (N,).
Tensor padding_mask(const Tensor& lengths, int64_t max_len);

// Tokens of row `row` of ids (N, T): the first `length` of them, or up to the first <pad> when
// length < 0.
std::vector<std::string> decode(const Vocabulary& vocab, const Tensor& ids, int64_t row, int64_t length = -1);
// Tokens joined back into text (spaces between words; characters concatenated).
std::string join_tokens(const Vocabulary& vocab, const std::vector<std::string>& tokens);

// JSON file: {"format": "xdnn-vocabulary-1", "level": "word", "pad": 0, "unk": 1,
//             "tokens": [...], "class_names": [...]}.
void save_vocabulary(const std::string& path, const Vocabulary& vocab,
                     const std::vector<std::string>& class_names = {});
struct VocabularyFile {
  Vocabulary vocab;
  std::vector<std::string> class_names;  // empty when the file has none
};
VocabularyFile load_vocabulary(const std::string& path);
// Where a training run keeps its vocabulary: "DIR/epoch-3.safetensors" -> "DIR/vocab.json".
std::string vocabulary_path_for_checkpoint(const std::string& checkpoint_path);

// A labelled text classification set, ready for training.
struct TextDataset {
  Tensor ids;      // int64 (N, T), right-padded with kPadId
  Tensor labels;   // int64 (N,), class index in [0, class_names.size())
  Tensor lengths;  // int64 (N,), real tokens per row, in [1, T] for the loaders here
  std::vector<std::string> class_names;
  Vocabulary vocab;
  std::vector<std::string> texts;  // the source text of each row (before truncation)

  int64_t size() const { return labels.defined() ? labels.dim(0) : 0; }
};
// Encodes texts with vocab into a TextDataset (labels must be in range of class_names).
TextDataset make_text_dataset(std::vector<std::string> texts, const std::vector<int64_t>& labels,
                              std::vector<std::string> class_names, Vocabulary vocab, int64_t max_len);

}  // namespace xdnn::text
