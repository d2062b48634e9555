// Text data (models/io/): the R lazy-load reader on hand-built databases (every malformed-input
// error, a seeded mutation test) and on Debian's r-cran-janeaustenr, the sentence dataset, the
// tokenizers and the synthetic trigger task.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "engine/random.h"
#include "models/io/corpus.h"
#include "models/io/rdata.h"
#include "models/io/tokenizer.h"
#include "models/io/trigger_task.h"

using namespace xdnn;
using namespace xdnn::text;
namespace fs = std::filesystem;

namespace {

struct ScratchDir {
  fs::path dir;
  ScratchDir() {
    dir = fs::temp_directory_path() / ("xdnn_test_text_" + std::to_string(::getpid()));
    fs::create_directories(dir);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

// A writer for R's XDR serialization, to build test databases by hand.
struct Xdr {
  std::vector<uint8_t> b;
  void i(int32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(static_cast<uint32_t>(v) >> s));
  }
  void header() {
    b.push_back('X');
    b.push_back('\n');
    i(3);
    i(0x040202);  // written by R 4.2.2
    i(0x030500);  // readable by R >= 3.5.0
    i(5);
    for (char c : std::string("UTF-8")) b.push_back(static_cast<uint8_t>(c));
  }
  void charsxp(const std::string& s) {
    i(0x00040009);  // CHARSXP, ASCII level bit
    i(static_cast<int32_t>(s.size()));
    for (char c : s) b.push_back(static_cast<uint8_t>(c));
  }
  void strsxp(const std::vector<std::string>& v) {
    i(rdata::STRSXP);
    i(static_cast<int32_t>(v.size()));
    for (const auto& s : v) charsxp(s);
  }
  // The "names" attribute pairlist; the symbol is written once and referenced after that, as R does.
  void names_attr(const std::vector<std::string>& names, bool first_use) {
    i(0x402);  // LISTSXP with a tag
    if (first_use) {
      i(rdata::SYMSXP);
      charsxp("names");
    } else {
      i((1 << 8) | rdata::REFSXP);  // reference 1: the first symbol
    }
    strsxp(names);
    i(rdata::NILVALUE_SXP);
  }
};

std::vector<uint8_t> zlib_compress(const std::vector<uint8_t>& in, bool gzip) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, gzip ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::vector<uint8_t> out(deflateBound(&zs, in.size()) + 32);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A lazy-load record: 4-byte big-endian length + zlib stream.
std::vector<uint8_t> make_record(const std::vector<uint8_t>& serialized) {
  std::vector<uint8_t> rec;
  const uint32_t n = static_cast<uint32_t>(serialized.size());
  for (int s = 24; s >= 0; s -= 8) rec.push_back(static_cast<uint8_t>(n >> s));
  const std::vector<uint8_t> z = zlib_compress(serialized, false);
  rec.insert(rec.end(), z.begin(), z.end());
  return rec;
}

struct TestDb {
  std::vector<uint8_t> rdx, rdb;
  std::vector<int32_t> offsets, lengths;
};

// Two character vectors, "alpha" and "beta", in a database laid out the way R's makeLazyLoadDB does.
TestDb make_test_db() {
  const std::vector<std::vector<std::string>> values = {{"It is a truth.", "", "Universally acknowledged."},
                                                        {"Emma Woodhouse, handsome, clever, and rich."}};
  TestDb db;
  for (const auto& v : values) {
    Xdr x;
    x.header();
    x.strsxp(v);
    const std::vector<uint8_t> rec = make_record(x.b);
    db.offsets.push_back(static_cast<int32_t>(db.rdb.size()));
    db.lengths.push_back(static_cast<int32_t>(rec.size()));
    db.rdb.insert(db.rdb.end(), rec.begin(), rec.end());
  }
  Xdr x;  // list(variables = list(alpha = c(off, len), beta = ...), compressed = TRUE)
  x.header();
  x.i(0x213);  // VECSXP with attributes
  x.i(2);
  x.i(0x213);
  x.i(2);
  for (size_t k = 0; k < 2; ++k) {
    x.i(rdata::INTSXP);
    x.i(2);
    x.i(db.offsets[k]);
    x.i(db.lengths[k]);
  }
  x.names_attr({"alpha", "beta"}, true);
  x.i(rdata::LGLSXP);
  x.i(1);
  x.i(1);
  x.names_attr({"variables", "compressed"}, false);
  db.rdx = zlib_compress(x.b, true);
  return db;
}

void write_file(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Runs f, which must throw xdnn::Error with a one-line message containing `needle`.
void check_one_line_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    FAIL("expected xdnn::Error containing '" << needle << "'");
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(msg.find(needle) != std::string::npos);
  }
}

bool austen_available() {
  return fs::exists(fs::path(janeausten_dir()) / "Rdata.rdx") && fs::exists(fs::path(janeausten_dir()) / "Rdata.rdb");
}

}  // namespace

TEST_CASE("text data: rdata reads a hand-built lazy-load database") {
  ScratchDir tmp;
  const TestDb db = make_test_db();
  write_file(tmp.dir / "Rdata.rdx", db.rdx);
  write_file(tmp.dir / "Rdata.rdb", db.rdb);
  const std::string base = (tmp.dir / "Rdata").string();
  const rdata::LazyLoadIndex index = rdata::read_lazyload_index(base);
  REQUIRE(index.names == std::vector<std::string>{"alpha", "beta"});
  CHECK(index.compressed == 1);
  CHECK(index.offsets[1] == db.offsets[1]);
  CHECK(index.lengths[1] == db.lengths[1]);
  const auto alpha = rdata::character_vector(rdata::read_lazyload_object(base, index, "alpha"), "alpha");
  CHECK(alpha == std::vector<std::string>{"It is a truth.", "", "Universally acknowledged."});
  const auto beta = rdata::character_vector(rdata::read_lazyload_object(base, index, "beta"), "beta");
  CHECK(beta == std::vector<std::string>{"Emma Woodhouse, handsome, clever, and rich."});
  check_one_line_error([&] { rdata::read_lazyload_object(base, index, "gamma"); }, "no object named 'gamma'");
}

TEST_CASE("text data: rdata reads version-2 streams, pairlists and compact integer sequences") {
  Xdr v2;  // version 2 has no native-encoding field
  v2.b = {'X', '\n'};
  v2.i(2);
  v2.i(0x020f01);
  v2.i(0x020300);
  v2.strsxp({"old", "format"});
  CHECK(rdata::character_vector(rdata::unserialize(v2.b.data(), v2.b.size(), "v2"), "v2") ==
        std::vector<std::string>{"old", "format"});

  Xdr alt;  // 1:5 as R >= 3.5 writes it: ALTREP compact_intseq, state c(n, first, step)
  alt.header();
  alt.i(rdata::ALTREP_SXP);
  alt.i(rdata::LISTSXP);
  alt.i(rdata::SYMSXP);
  alt.charsxp("compact_intseq");
  alt.i(rdata::LISTSXP);
  alt.i(rdata::SYMSXP);
  alt.charsxp("base");
  alt.i(rdata::LISTSXP);
  alt.i(rdata::INTSXP);
  alt.i(1);
  alt.i(rdata::INTSXP);
  alt.i(rdata::NILVALUE_SXP);
  alt.i(rdata::REALSXP);
  alt.i(3);
  for (double d : {5.0, 1.0, 1.0}) {
    uint64_t u;
    std::memcpy(&u, &d, 8);
    alt.i(static_cast<int32_t>(u >> 32));
    alt.i(static_cast<int32_t>(u & 0xffffffffu));
  }
  alt.i(rdata::NILVALUE_SXP);
  const rdata::RObject seq = rdata::unserialize(alt.b.data(), alt.b.size(), "alt");
  CHECK(seq.type == rdata::INTSXP);
  CHECK(seq.ints == std::vector<int32_t>{1, 2, 3, 4, 5});
}

TEST_CASE("text data: rdata malformed input -> one-line xdnn::Error naming the file and place") {
  ScratchDir tmp;
  const TestDb db = make_test_db();
  const std::string base = (tmp.dir / "Rdata").string();
  write_file(tmp.dir / "Rdata.rdx", db.rdx);
  const rdata::LazyLoadIndex index = rdata::parse_lazyload_index(db.rdx.data(), db.rdx.size(), "idx");

  SUBCASE("truncated rdb") {
    std::vector<uint8_t> cut(db.rdb.begin(), db.rdb.end() - 10);
    write_file(tmp.dir / "Rdata.rdb", cut);
    check_one_line_error([&] { rdata::read_lazyload_object(base, index, "beta"); }, "runs past the end");
    check_one_line_error([&] { rdata::read_lazyload_object(base, index, "beta"); }, "Rdata.rdb");
  }
  SUBCASE("truncated zlib stream inside a record") {
    const uint8_t* rec = db.rdb.data() + db.offsets[1];
    check_one_line_error([&] { rdata::parse_lazyload_record(rec, static_cast<size_t>(db.lengths[1]) - 6, 1, "rec"); },
                         "truncated");
  }
  SUBCASE("bad zlib data") {
    std::vector<uint8_t> bad = db.rdb;
    for (int k = 8; k < 20; ++k) bad[static_cast<size_t>(db.offsets[1] + k)] ^= 0x5a;
    write_file(tmp.dir / "Rdata.rdb", bad);
    check_one_line_error([&] { rdata::read_lazyload_object(base, index, "beta"); }, "bad compressed stream");
  }
  SUBCASE("declared length disagrees with the stream") {
    std::vector<uint8_t> rec(db.rdb.begin() + db.offsets[0], db.rdb.begin() + db.offsets[0] + db.lengths[0]);
    rec[3] = static_cast<uint8_t>(rec[3] + 1);
    check_one_line_error([&] { rdata::parse_lazyload_record(rec.data(), rec.size(), 1, "rec"); }, "declared");
    rec[0] = 0x7f;  // ~2 GB from ~100 bytes: rejected before allocating
    check_one_line_error([&] { rdata::parse_lazyload_record(rec.data(), rec.size(), 1, "rec"); }, "implausible");
  }
  SUBCASE("bad serialization header") {
    Xdr x;
    x.header();
    x.strsxp({"a"});
    std::vector<uint8_t> s = x.b;
    s[0] = 'Y';
    check_one_line_error([&] { rdata::unserialize(s.data(), s.size(), "blob"); },
                         "expected the XDR serialization magic");
    s = x.b;
    s[5] = 7;  // version 7
    check_one_line_error([&] { rdata::unserialize(s.data(), s.size(), "blob"); },
                         "unsupported serialization version 7");
    s = x.b;
    s.resize(s.size() - 1);
    check_one_line_error([&] { rdata::unserialize(s.data(), s.size(), "blob"); }, "blob: truncated");
    s = x.b;
    s.push_back(0);
    check_one_line_error([&] { rdata::unserialize(s.data(), s.size(), "blob"); }, "trailing bytes");
  }
  SUBCASE("bad items") {
    Xdr x;
    x.header();
    x.i(rdata::STRSXP);
    x.i(1000000);  // a million strings announced, none there
    check_one_line_error([&] { rdata::unserialize(x.b.data(), x.b.size(), "blob"); }, "exceeds");
    Xdr y;
    y.header();
    y.i((5 << 8) | rdata::REFSXP);
    check_one_line_error([&] { rdata::unserialize(y.b.data(), y.b.size(), "blob"); }, "reference 5");
    Xdr z;
    z.header();
    z.i(rdata::CLOSXP);
    check_one_line_error([&] { rdata::unserialize(z.b.data(), z.b.size(), "blob"); }, "unsupported SEXP type");
    Xdr sym;
    sym.header();
    sym.i(rdata::SYMSXP);
    sym.charsxp(std::string(10001, 'a'));
    check_one_line_error([&] { rdata::unserialize(sym.b.data(), sym.b.size(), "blob"); }, "symbol name longer");
    Xdr deep;  // list(list(list(...))) 10000 deep
    deep.header();
    for (int k = 0; k < 10000; ++k) {
      deep.i(rdata::VECSXP);
      deep.i(1);
    }
    deep.i(rdata::NILVALUE_SXP);
    check_one_line_error([&] { rdata::unserialize(deep.b.data(), deep.b.size(), "blob"); }, "nesting deeper");
  }
  SUBCASE("index that is not a lazy-load index") {
    const std::vector<uint8_t> junk = {'P', 'K', 3, 4, 0, 0};
    check_one_line_error([&] { rdata::parse_lazyload_index(junk.data(), junk.size(), "x.rdx"); },
                         "x.rdx: expected a gzip");
    Xdr x;
    x.header();
    x.strsxp({"a"});
    check_one_line_error([&] { rdata::parse_lazyload_index(x.b.data(), x.b.size(), "x.rdx"); }, "expected a list");
  }
  SUBCASE("missing package names r-cran-janeaustenr") {
    check_one_line_error([&] { load_austen_novels((tmp.dir / "nowhere").string()); }, "r-cran-janeaustenr");
  }
}

// The property tests/fuzz/fuzz_rdata.cpp checks at scale: whatever the bytes, the reader returns or
// throws xdnn::Error (ASan/UBSan in CI catch the rest).
TEST_CASE("text data: rdata survives seeded mutations") {
  const TestDb db = make_test_db();
  const std::vector<uint8_t> rec(db.rdb.begin() + db.offsets[0], db.rdb.begin() + db.offsets[0] + db.lengths[0]);
  Xdr plain;
  plain.header();
  plain.strsxp({"one", "two", "three"});
  Rng rng(7);
  int parsed = 0, rejected = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const std::vector<uint8_t>& src = trial % 3 == 0 ? rec : trial % 3 == 1 ? db.rdx : plain.b;
    std::vector<uint8_t> m = src;
    const int edits = 1 + static_cast<int>(rng.below(4));
    for (int e = 0; e < edits; ++e) m[rng.below(m.size())] = static_cast<uint8_t>(rng.below(256));
    if (rng.below(4) == 0) m.resize(rng.below(m.size() + 1));
    try {
      if (trial % 3 == 0) rdata::parse_lazyload_record(m.data(), m.size(), 1, "rec");
      if (trial % 3 == 1) rdata::parse_lazyload_index(m.data(), m.size(), "rdx");
      if (trial % 3 == 2) rdata::unserialize(m.data(), m.size(), "blob");
      ++parsed;
    } catch (const Error&) {
      ++rejected;
    }
  }
  CHECK(parsed + rejected == 3000);
  CHECK(rejected > 1000);
}

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
  ScratchDir tmp;
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
