// The R lazy-load reader (models/io/rdata.h) on hand-built databases: what it reads, every malformed-input
// error, and a seeded mutation test (Debian's r-cran-janeaustenr itself: test_text_data.cpp).
#include <doctest/doctest.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/random.h"
#include "file_fixtures.h"
#include "models/io/corpus.h"
#include "models/io/rdata.h"

using namespace xdnn;
using namespace xdnn::text;
using namespace xdnn::testing;
namespace fs = std::filesystem;

namespace {

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

}  // namespace

TEST_CASE("text data: rdata reads a hand-built lazy-load database") {
  ScratchDir tmp("text");
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
  ScratchDir tmp("text");
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
