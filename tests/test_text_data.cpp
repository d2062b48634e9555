// Text data (models/io/): Debian's r-cran-janeaustenr read by the R lazy-load reader (hand-built databases:
// test_rdata.cpp), the sentence dataset, the tokenizers and the synthetic trigger task.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "file_fixtures.h"
#include "models/io/corpus.h"
#include "models/io/tokenizer.h"
#include "models/io/trigger_task.h"

using namespace xdnn;
using namespace xdnn::text;
using namespace xdnn::testing;
namespace fs = std::filesystem;

namespace {

bool austen_available() {
  return fs::exists(fs::path(janeausten_dir()) / "Rdata.rdx") && fs::exists(fs::path(janeausten_dir()) / "Rdata.rdb");
}

}  // namespace

TEST_CASE("text data: Jane Austen's six novels from r-cran-janeaustenr") {
  if (!austen_available()) {
    MESSAGE("SKIPPED: r-cran-janeaustenr not installed (" << janeausten_dir() << "/Rdata.rdx missing)");
    return;
  }
  const std::vector<Novel> novels = load_austen_novels();
  REQUIRE(novels.size() == 6);
  // Line counts as R itself reports them: length(janeaustenr::emma) etc.
  const std::vector<std::pair<std::string, size_t>> expected = {{"sensesensibility", 12624}, {"prideprejudice", 13030},
                                                                {"mansfieldpark", 15349},    {"emma", 16235},
                                                                {"northangerabbey", 7856},   {"persuasion", 8328}};
  for (size_t c = 0; c < 6; ++c) {
    CHECK(novels[c].name == expected[c].first);
    CHECK(novels[c].lines.size() == expected[c].second);
    const std::vector<std::string> sentences = split_sentences(novels[c].lines);
    MESSAGE(novels[c].title << ": " << novels[c].lines.size() << " lines, " << sentences.size() << " sentences");
    CHECK(sentences.size() > 3000);
    CHECK(sentences.size() < novels[c].lines.size());
  }
  CHECK(novels[3].lines[0] == "EMMA");
  const std::vector<std::string> pp = split_sentences(novels[1].lines);
  CHECK(pp[0] ==
        "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be "
        "in want of a wife.");
  // "Mr." does not end a sentence; a closing quote stays with its sentence.
  CHECK(pp[2] ==
        "\"My dear Mr. Bennet,\" said his lady to him one day, \"have you heard that Netherfield Park is let at "
        "last?\"");
}

TEST_CASE("text data: Austen sentence dataset (split, vocabulary from train only, determinism)") {
  if (!austen_available()) {
    MESSAGE("SKIPPED: r-cran-janeaustenr not installed (" << janeausten_dir() << "/Rdata.rdx missing)");
    return;
  }
  AustenOptions o;
  o.max_per_class = 300;
  o.test_fraction = 0.2;
  o.vocab_size = 2000;
  o.max_len = 32;
  o.seed = 3;
  const AustenSplit a = load_austen_sentences(o);
  REQUIRE(a.train.size() == 6 * 240);
  REQUIRE(a.test.size() == 6 * 60);
  CHECK(a.train.ids.shape() == Shape{6 * 240, 32});
  CHECK(a.train.class_names == austen_class_names());
  CHECK(a.train.vocab.size() == 2002);
  std::vector<int64_t> per_class(6, 0);
  for (int64_t i = 0; i < a.test.size(); ++i) ++per_class[static_cast<size_t>(a.test.labels.item(i))];
  CHECK(per_class == std::vector<int64_t>(6, 60));
  // Every vocabulary word occurs in the training sentences; some test words do not and map to <unk>.
  std::set<std::string> train_words;
  for (const auto& t : a.train.texts)
    for (auto& w : word_tokens(t)) train_words.insert(w);
  for (int64_t id = 2; id < a.train.vocab.size(); ++id) CHECK(train_words.count(a.train.vocab.token(id)) == 1);
  int64_t unseen = 0;
  for (int64_t i = 0; i < a.test.size(); ++i) {
    const auto words = word_tokens(a.test.texts[static_cast<size_t>(i)]);
    const int64_t len = std::min(static_cast<int64_t>(a.test.lengths.item(i)), static_cast<int64_t>(words.size()));
    for (int64_t t = 0; t < len; ++t) {
      if (!train_words.count(words[static_cast<size_t>(t)])) {
        CHECK(a.test.ids.item(i * 32 + t) == kUnkId);
        ++unseen;
      }
    }
  }
  CHECK(unseen > 0);
  for (int64_t i = 0; i < a.train.size(); ++i) {
    CHECK(a.train.lengths.item(i) >= 1);
    CHECK(a.train.lengths.item(i) <= 32);
  }
  const AustenSplit b = load_austen_sentences(o);
  CHECK(bitwise_equal(a.train.ids, b.train.ids));
  CHECK(bitwise_equal(a.test.labels, b.test.labels));
  o.seed = 4;
  const AustenSplit c = load_austen_sentences(o);
  CHECK_FALSE(bitwise_equal(a.train.ids, c.train.ids));
  o.level = TokenLevel::Char;
  o.vocab_size = -1;
  o.max_len = 200;
  const AustenSplit ch = load_austen_sentences(o);
  CHECK(ch.train.vocab.level() == TokenLevel::Char);
  CHECK(ch.train.vocab.size() > 60);  // letters of both cases, digits, punctuation
  CHECK(join_tokens(ch.train.vocab, decode(ch.train.vocab, ch.train.ids, 0)) ==
        ch.train.texts[0].substr(0, std::min<size_t>(200, ch.train.texts[0].size())));
}

TEST_CASE("text data: word and character tokenizers") {
  CHECK(word_tokens("\"Don't,\" said Emma's 'friend' -- 'tis 12 o'clock!") ==
        std::vector<std::string>{"don't", "said", "emma's", "friend", "tis", "o'clock"});
  CHECK(word_tokens("") == std::vector<std::string>{});
  CHECK(word_tokens("_Italic_ WORDS--dash") == std::vector<std::string>{"italic", "words", "dash"});
  CHECK(char_tokens("a\xc2\xa3"
                    "b") == std::vector<std::string>{"a", "\xc2\xa3", "b"});
  CHECK(char_tokens("\xff"
                    "a") == std::vector<std::string>{"\xff", "a"});  // a stray byte is one token
  CHECK(char_tokens("\xc2") == std::vector<std::string>{"\xc2"});    // truncated sequence
  CHECK(parse_token_level("char") == TokenLevel::Char);
  check_one_line_error([] { parse_token_level("bpe"); }, "unknown token level 'bpe'");
}

TEST_CASE("text data: vocabulary, encoding, padding, truncation, unknown words, decoding") {
  const std::vector<std::string> train = {"the cat sat", "the cat ran", "the dog"};
  const Vocabulary v = build_vocabulary(train, TokenLevel::Word, 3);
  // Counts: the 3, cat 2, dog/ran/sat 1 -> ties in byte order: dog before ran before sat.
  CHECK(v.tokens() == std::vector<std::string>{"<pad>", "<unk>", "the", "cat", "dog"});
  CHECK(build_vocabulary(train, TokenLevel::Word, -1, 2).tokens() ==
        std::vector<std::string>{"<pad>", "<unk>", "the", "cat"});
  CHECK(build_vocabulary(train, TokenLevel::Word, -1).size() == 7);

  const Encoded e = encode(v, {"The cat sat on the dog", "dog", ""}, 4);
  CHECK(e.ids.shape() == Shape{3, 4});
  const std::vector<int64_t> want = {2, 3, 1, 1,   // truncated to 4; "sat", "on" unknown
                                     4, 0, 0, 0,   // padded
                                     0, 0, 0, 0};  // empty text
  for (size_t k = 0; k < want.size(); ++k) CHECK(e.ids.item(static_cast<int64_t>(k)) == want[k]);
  CHECK(e.lengths.item(0) == 4);
  CHECK(e.lengths.item(1) == 1);
  CHECK(e.lengths.item(2) == 0);
  const Tensor mask = padding_mask(e.lengths, 4);
  CHECK(mask.item(0 * 4 + 3) == 1.0);
  CHECK(mask.item(1 * 4 + 0) == 1.0);
  CHECK(mask.item(1 * 4 + 1) == 0.0);
  CHECK(decode(v, e.ids, 0) == std::vector<std::string>{"the", "cat", "<unk>", "<unk>"});
  CHECK(decode(v, e.ids, 1) == std::vector<std::string>{"dog"});
  CHECK(decode(v, e.ids, 1, 2) == std::vector<std::string>{"dog", "<pad>"});
  CHECK(join_tokens(v, decode(v, e.ids, 0)) == "the cat <unk> <unk>");
  // In-vocabulary text round-trips (lower-cased, punctuation dropped).
  const Encoded r = encode(v, {"The, cat! the dog."}, 8);
  CHECK(join_tokens(v, decode(v, r.ids, 0)) == "the cat the dog");
  check_one_line_error([&] { v.token(99); }, "token id 99 out of range");
  check_one_line_error([] { Vocabulary(TokenLevel::Word, {"<pad>", "<unk>", "a", "a"}); }, "'a' appears twice");
  check_one_line_error([&] { encode(v, {"x"}, 0); }, "max_len");
}

TEST_CASE("text data: vocabulary JSON round trip next to a checkpoint") {
  ScratchDir tmp("text");
  const Vocabulary v = build_vocabulary({"Emma and Harriet", "emma's friend"}, TokenLevel::Word, -1);
  const std::string path = vocabulary_path_for_checkpoint((tmp.dir / "epoch-3.safetensors").string());
  CHECK(path == (tmp.dir / "vocab.json").string());
  save_vocabulary(path, v, {"A", "B"});
  const VocabularyFile f = load_vocabulary(path);
  CHECK(f.vocab.tokens() == v.tokens());
  CHECK(f.vocab.level() == TokenLevel::Word);
  CHECK(f.class_names == std::vector<std::string>{"A", "B"});
  const Vocabulary c = build_vocabulary({"ab\xc2\xa3"}, TokenLevel::Char, -1);
  save_vocabulary(path, c);
  CHECK(load_vocabulary(path).vocab.tokens() == c.tokens());
  CHECK(load_vocabulary(path).vocab.level() == TokenLevel::Char);

  std::ofstream(path) << "{\"format\": \"xdnn-vocabulary-1\", \"level\": \"word\", \"tokens\": [\"<unk>\"]}";
  check_one_line_error([&] { load_vocabulary(path); }, "<pad>");
  std::ofstream(path) << "{\"format\": \"xdnn-vocabulary-1\", \"tokens\": []}";
  check_one_line_error([&] { load_vocabulary(path); }, "missing key \"level\"");
  std::ofstream(path) << "{not json";
  check_one_line_error([&] { load_vocabulary(path); }, "not valid JSON");
  check_one_line_error([&] { load_vocabulary((tmp.dir / "none.json").string()); }, "cannot open");
}

TEST_CASE("text data: trigger task has exactly one trigger, at the reported position, deciding the label") {
  TriggerTaskOptions o;
  o.num_samples = 500;
  o.num_classes = 3;
  o.num_fillers = 20;
  o.min_length = 5;
  o.max_length = 12;
  o.seed = 11;
  const TriggerTask t = make_trigger_task(o);
  const TextDataset& d = t.data;
  REQUIRE(d.ids.shape() == Shape{500, 12});
  CHECK(d.vocab.size() == 2 + 3 + 20);
  CHECK(d.class_names == t.trigger_words);
  std::vector<int64_t> per_class(3, 0), per_position(12, 0);
  for (int64_t i = 0; i < 500; ++i) {
    const int64_t len = static_cast<int64_t>(d.lengths.item(i));
    const int64_t label = static_cast<int64_t>(d.labels.item(i));
    const int64_t at = static_cast<int64_t>(t.trigger_positions.item(i));
    REQUIRE(len >= 5);
    REQUIRE(len <= 12);
    REQUIRE(at < len);
    int triggers = 0;
    for (int64_t k = 0; k < 12; ++k) {
      const int64_t id = static_cast<int64_t>(d.ids.item(i * 12 + k));
      if (k >= len) {
        CHECK(id == kPadId);
      } else if (id >= 2 && id < 5) {
        ++triggers;
        CHECK(k == at);
        CHECK(id - 2 == label);
      } else {
        CHECK(id >= 5);
      }
    }
    CHECK(triggers == 1);
    ++per_class[static_cast<size_t>(label)];
    ++per_position[static_cast<size_t>(at)];
  }
  for (int64_t n : per_class) CHECK(n > 100);  // ~167 each
  CHECK(per_position[0] > 20);                 // every length allows position 0
  CHECK(per_position[11] > 0);
  // Text form: word-tokenizing the texts with the task's vocabulary gives the same ids.
  const Encoded e = encode(d.vocab, d.texts, 12);
  CHECK(bitwise_equal(e.ids, d.ids));
  CHECK(bitwise_equal(e.lengths, d.lengths));
  // Determinism by seed.
  const TriggerTask same = make_trigger_task(o);
  CHECK(bitwise_equal(same.data.ids, d.ids));
  CHECK(bitwise_equal(same.trigger_positions, t.trigger_positions));
  o.seed = 12;
  CHECK_FALSE(bitwise_equal(make_trigger_task(o).data.ids, d.ids));
  CHECK(letters_name(0) == "a");
  CHECK(letters_name(27) == "bb");
  o.num_classes = 1;
  check_one_line_error([&] { make_trigger_task(o); }, "num_classes");
}
