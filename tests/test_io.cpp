// Tensor files: .npy and .safetensors (the Fashion-MNIST IDX reader: test_fashion_mnist.cpp).
// Round trips for every dtype/version, the golden files, one test per malformed-input error, and a
// seeded mutation test (the property the libFuzzer harnesses in tests/fuzz/ check: the parsers only
// ever throw xdnn::Error, whatever the bytes).
#include <doctest/doctest.h>

#include <unistd.h>
#include <zlib.h>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>
#include "engine/random.h"
#include "file_fixtures.h"

#include "models/io/npy.h"
#include "models/io/safetensors.h"

using namespace xdnn;
using namespace xdnn::testing;
namespace fs = std::filesystem;

namespace {

const std::string kGolden = XDNN_TESTS_DIR "/golden";  // the golden set copied into the repo

// A .npy file with a hand-written header dict (version 1.0, padded like numpy pads).
std::string npy_with_dict(const std::string& dict, const std::string& data) {
  std::string d = dict;
  while ((10 + d.size() + 1) % 64) d += ' ';
  d += '\n';
  std::string h("\x93NUMPY\x01\x00", 8);
  h += static_cast<char>(d.size() & 0xff);
  h += static_cast<char>(d.size() >> 8);
  return h + d + data;
}

Tensor ramp(Shape shape, DType dtype) {
  Tensor t(shape, dtype);
  for (int64_t i = 0; i < t.numel(); ++i) t.set_item(i, dtype == DType::I64 ? i * 1000003 - 7 : 0.1 * i - 3.25);
  return t;
}

// Seeded byte-level mutations of a valid file: flips, overwrites with boundary bytes, truncation,
// insertion and deletion, a few at a time (what a fuzzer explores first).
std::string mutate(std::string s, Rng& rng) {
  int edits = 1 + static_cast<int>(rng.below(4));
  for (int e = 0; e < edits; ++e) {
    size_t n = s.size();
    switch (rng.below(6)) {
      case 0:
        if (n) s[rng.below(n)] ^= static_cast<char>(1u << rng.below(8));
        break;
      case 1: {
        static const unsigned char special[] = {0, 0xff, 0x7f, 0x80, '0', '9', ',', ')', '(', '\'', '"', '{', '}', ':'};
        if (n) s[rng.below(n)] = static_cast<char>(special[rng.below(sizeof special)]);
        break;
      }
      case 2:
        s.resize(rng.below(n + 1));
        break;
      case 3:
        if (n) s.erase(rng.below(n), 1 + rng.below(8));
        break;
      case 4:
        s.insert(rng.below(n + 1), 1 + rng.below(4), static_cast<char>(rng.below(256)));
        break;
      case 5:
        // Overwrite 8 bytes with a random or huge integer: hits length fields and offsets.
        if (n >= 8) {
          uint64_t v = rng.below(2) ? rng.next_u64() : (1ULL << rng.below(64)) - rng.below(3);
          size_t at = rng.below(n - 7);
          for (int b = 0; b < 8; ++b) s[at + b] = static_cast<char>(v >> (8 * b));
        }
        break;
    }
  }
  return s;
}

// Runs parse over `count` mutations of each seed file; any exception other than xdnn::Error fails
// the test (a crash fails the whole binary). Returns how many mutants parsed without error.
int mutation_property(const std::vector<std::string>& seeds, int count, uint64_t seed,
                      const std::function<void(const std::string&)>& parse) {
  Rng rng(seed);
  int accepted = 0, foreign = 0;
  for (int i = 0; i < count; ++i) {
    std::string m = mutate(seeds[i % seeds.size()], rng);
    try {
      parse(m);
      ++accepted;
    } catch (const Error& e) {
      std::string msg = e.what();
      if (msg.empty() || msg.find('\n') != std::string::npos) ++foreign;
    } catch (...) {
      ++foreign;
    }
  }
  CHECK(foreign == 0);
  return accepted;
}

}  // namespace

// ---------------------------------------------------------------------------------------------- .npy

TEST_CASE("npy: round trip for every dtype and rank 0..4") {
  for (DType dt : {DType::F32, DType::F64, DType::I64}) {
    for (const Shape& shape : {Shape{}, Shape{5}, Shape{0}, Shape{2, 3}, Shape{3, 0, 2}, Shape{2, 1, 3, 4}}) {
      Tensor t = ramp(shape, dt);
      std::string path = scratch().path("rt.npy");
      save_npy(path, t);
      Tensor back = load_npy(path);
      INFO(t.describe());
      CHECK(bitwise_equal(t, back));
      CHECK(bitwise_equal(t, parse_npy(npy_bytes(t), "mem")));
      CHECK(read_bytes(path) == npy_bytes(t));
      // numpy's alignment: the data starts at a multiple of 64 bytes.
      CHECK((npy_bytes(t).size() - t.numel() * dtype_size(dt)) % 64 == 0);
    }
  }
}

TEST_CASE("npy: a view (slice_batch) saves only its rows") {
  Tensor t = ramp({4, 3}, DType::F32);
  Tensor rows = t.slice_batch(1, 3);
  Tensor back = parse_npy(npy_bytes(rows), "mem");
  CHECK(back.shape() == Shape{2, 3});
  CHECK(back.item(0) == t.item(3));
  CHECK(back.item(5) == t.item(8));
}

TEST_CASE("npy: load_npy_rows reads rows [b, e) alone; npy_shape the header; npy_header starts npy_bytes") {
  for (DType dt : {DType::F32, DType::F64, DType::I64}) {
    const Tensor t = ramp({5, 2, 3}, dt);
    const std::string path = scratch().path("rows.npy");
    save_npy(path, t);
    CHECK(npy_shape(path) == Shape{5, 2, 3});
    CHECK(npy_bytes(t).substr(0, npy_header(t.shape(), dt).size()) == npy_header(t.shape(), dt));
    for (auto [b, e] : {std::pair<int64_t, int64_t>{0, 5}, {1, 3}, {4, 5}, {2, 2}})
      CHECK(bitwise_equal(load_npy_rows(path, b, e), t.slice_batch(b, e).clone()));
    CHECK_THROWS_WITH(load_npy_rows(path, 3, 6), doctest::Contains("rows [3, 6) are outside the file's 5 rows"));
  }
  std::string i4data;  // '<i4' rows are widened like load_npy's
  for (int32_t v : {-3, 0, 7, 8, 9, -1}) i4data.append(reinterpret_cast<char*>(&v), 4);
  const std::string path = scratch().path("rows_i4.npy");
  std::ofstream(path, std::ios::binary) << npy_with_dict("{'descr': '<i4', 'fortran_order': False, 'shape': (3, 2), }",
                                                         i4data);
  const Tensor r = load_npy_rows(path, 1, 3);
  CHECK(r.describe() == "int64 (2, 2)");
  CHECK(r.data<int64_t>()[0] == 7);
  CHECK(r.data<int64_t>()[3] == -1);
}

TEST_CASE("npy: golden files load, and re-saving them reproduces numpy's bytes exactly") {
  for (const char* rel : {"/explain-cnn-saliency/input.npy", "/explain-lstm-saliency/input.npy",
                          "/data/tracin-train-x.npy", "/data/tracin-train-y.npy"}) {
    std::string path = kGolden + rel;
    INFO(path);
    Tensor t = load_npy(path);
    CHECK(npy_bytes(t) == read_bytes(path));
  }
  Tensor x = load_npy(kGolden + "/explain-cnn-saliency/input.npy");
  CHECK(x.describe() == "float32 (4, 1, 28, 28)");
  for (int64_t i = 0; i < x.numel(); ++i) REQUIRE((x.item(i) >= 0 && x.item(i) <= 1));
  Tensor ids = load_npy(kGolden + "/explain-lstm-saliency/input.npy");
  CHECK(ids.describe() == "int64 (3, 12)");
}

TEST_CASE("npy: versions 2.0 and 3.0, '<i4' widening, header spelling variants") {
  Tensor t = ramp({2, 3}, DType::F64);
  std::string v1 = npy_bytes(t);
  // Re-wrap the same dict as version 2.0 and 3.0 (4-byte header length).
  uint16_t len = static_cast<uint8_t>(v1[8]) | static_cast<uint8_t>(v1[9]) << 8;
  for (char major : {'\x02', '\x03'}) {
    std::string v = std::string("\x93NUMPY", 6) + major + '\0' + v1.substr(8, 2) + std::string(2, '\0') + v1.substr(10);
    CHECK(len == static_cast<uint8_t>(v[8]));
    CHECK(bitwise_equal(parse_npy(v, "v2"), t));
  }
  std::string i4data;
  for (int32_t v : {-3, 0, 7, 2147483647, -2147483647 - 1, 42}) i4data.append(reinterpret_cast<char*>(&v), 4);
  Tensor w = parse_npy(npy_with_dict("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", i4data), "i4");
  CHECK(w.dtype() == DType::I64);
  CHECK(w.data<int64_t>()[3] == 2147483647);
  CHECK(w.data<int64_t>()[4] == -2147483648LL);
  // Key order, double quotes, no trailing comma, "(6)" without comma, Python 2 longs.
  Tensor u = parse_npy(npy_with_dict("{\"shape\": (6L,),\"fortran_order\":False,'descr':'<i4'}", i4data), "var");
  CHECK(u.shape() == Shape{6});
  CHECK(parse_npy(npy_with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", "abcd"), "0d").ndim() == 0);
}

TEST_CASE("npy: save falls back to version 2.0 when the header exceeds 65535 bytes") {
  Shape many(25000, 1);  // "1, " per dimension: a ~75 kB header
  many[7] = 2;
  Tensor t = ramp(many, DType::F32);
  std::string b = npy_bytes(t);
  CHECK(b[6] == 2);
  CHECK(b.size() > 65536);
  CHECK(bitwise_equal(parse_npy(b, "big-header"), t));
  CHECK(npy_bytes(ramp({3}, DType::F32))[6] == 1);
}

TEST_CASE("npy: every malformed input is a one-line xdnn::Error naming the file") {
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const std::string data8(8, '\0');
  auto parse = [](const std::string& bytes) { return [bytes] { parse_npy(bytes, "bad.npy"); }; };
  check_error([] { load_npy("/nonexistent/dir/x.npy"); }, "/nonexistent/dir/x.npy", "no such file");
  check_error([] { load_npy(scratch().dir.string()); }, scratch().dir.string(), "not a regular file");
  check_error(parse(""), "bad.npy", "not a .npy file");
  check_error(parse("PK\x03\x04 a zip file"), "bad.npy", "expected the magic string");
  check_error(parse(std::string("\x93NUMPY\x01", 7)), "bad.npy", "truncated .npy header");
  check_error(parse(std::string("\x93NUMPY\x04\x00\x10\x00", 10)), "bad.npy", "version 4.0");
  check_error(parse(std::string("\x93NUMPY\x01\x00\xff\x00{}", 12)), "bad.npy", "header length field says 255");
  check_error(parse(npy_with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ", data8)), "bad.npy",
              "malformed .npy header dict");
  check_error(parse(npy_with_dict("{'descr': '<f4', 'fortran_order': False}", data8)), "bad.npy", "lacks 'shape'");
  check_error(parse(npy_with_dict("{'descr': '<f4', 'fortran_order': false, 'shape': (2,)}", data8)), "bad.npy",
              "expected True or False");
  check_error(parse(npy_with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", data8)), "bad.npy",
              "unexpected key 'x'");
  check_error(parse(npy_with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", data8)), "bad.npy",
              "negative dimension");
  check_error(parse(npy_with_dict("{'descr': '<f2', 'fortran_order': False, 'shape': (2,)}", data8)), "bad.npy",
              "unsupported dtype '<f2'");
  check_error(parse(npy_with_dict("{'descr': '|b1', 'fortran_order': False, 'shape': (2,)}", data8)), "bad.npy",
              "unsupported dtype '|b1'");
  check_error(parse(npy_with_dict("{'descr': '>f4', 'fortran_order': False, 'shape': (2,)}", data8)), "bad.npy",
              "big-endian");
  check_error(parse(npy_with_dict("{'descr': '<f4', 'fortran_order': True, 'shape': (2,)}", data8)), "bad.npy",
              "fortran_order=True");
  check_error(parse(npy_with_dict(dict, data8.substr(0, 7))), "bad.npy", "truncated data");
  check_error(parse(npy_with_dict(dict, data8 + "x")), "bad.npy", "trailing bytes");
  check_error(parse(npy_with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,)}", "")),
              "bad.npy", "does not fit in 64 bits");
  check_error(parse(npy_with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", "")),
              "bad.npy", "more elements than fit");
  check_error(parse(npy_with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,)}", "")),
              "bad.npy", "too large");
  // An absurd but representable shape is refused by the size check, not by a failed allocation.
  check_error(parse(npy_with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,)}", "")),
              "bad.npy", "truncated data");
  // The same checks on the file path (which reads the header before the data).
  std::string bad = scratch().path("short.npy");
  write_bytes(bad, npy_with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,)}", data8));
  check_error([&] { load_npy(bad); }, bad, "truncated data");
  write_bytes(bad, std::string("\x93NUMPY\x01\x00\x00\x01", 10));
  check_error([&] { load_npy(bad); }, bad, "header length field says 256");
  check_error([] { save_npy("/nonexistent/dir/y.npy", Tensor::zeros({2})); }, "/nonexistent/dir/y.npy", "cannot write");
}

TEST_CASE("npy: mutated files only ever raise xdnn::Error (deterministic fuzz)") {
  std::vector<std::string> seeds = {npy_bytes(ramp({2, 3}, DType::F32)), npy_bytes(ramp({}, DType::F64)),
                                    npy_bytes(ramp({4}, DType::I64)),
                                    npy_with_dict("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", "abcd")};
  int accepted = mutation_property(seeds, 4000, 1, [](const std::string& b) { parse_npy(b, "mutant.npy"); });
  // Some mutants (flips inside the data, spaces in the padding) stay valid; most must be rejected.
  CHECK(accepted > 0);
  CHECK(accepted < 4000);
}

// -------------------------------------------------------------------------------------- safetensors

namespace {

// A safetensors file from a hand-written JSON header (padded to 8 bytes) and a data buffer.
std::string st_with_header(std::string header, const std::string& data) {
  while (header.size() % 8) header += ' ';
  std::string out(8, '\0');
  for (int b = 0; b < 8; ++b) out[b] = static_cast<char>((header.size() >> (8 * b)) & 0xff);
  return out + header + data;
}

TensorList st_sample() {
  return {{"w", ramp({3, 2}, DType::F32)},  {"b", ramp({3}, DType::F64)},        {"ids", ramp({2, 2}, DType::I64)},
          {"scalar", ramp({}, DType::F32)}, {"empty", ramp({0, 4}, DType::F32)}, {"a.first", ramp({1}, DType::F64)}};
}

}  // namespace

TEST_CASE("safetensors: round trip keeps dtypes, shapes, bytes, insertion order and metadata") {
  TensorList ts = st_sample();
  Metadata md = {{"lr", "0.003"}, {"epoch", "2"}, {"note", "unicode \xc3\xa9 and \"quotes\""}};
  std::string path = scratch().path("rt.safetensors");
  save_safetensors(path, ts, md);
  std::string bytes = read_bytes(path);
  CHECK(bytes == safetensors_bytes(ts, md));
  uint64_t n = 0;
  for (int b = 0; b < 8; ++b) n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[b])) << (8 * b);
  CHECK(n % 8 == 0);
  // Header keys in insertion order ("w" before "b" before "a.first"), metadata first.
  std::string header = bytes.substr(8, n);
  CHECK(header.find("__metadata__") < header.find("\"w\""));
  CHECK(header.find("\"w\"") < header.find("\"b\""));
  CHECK(header.find("\"empty\"") < header.find("\"a.first\""));

  Metadata md_back;
  TensorList back = load_safetensors_ordered(path, &md_back);
  CHECK(md_back == md);
  CHECK(load_safetensors_metadata(path) == md);
  REQUIRE(back.size() == ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    INFO(ts[i].first);
    CHECK(back[i].first == ts[i].first);  // data order == insertion order
    CHECK(bitwise_equal(back[i].second, ts[i].second));
  }
  std::map<std::string, Tensor> by_name = load_safetensors(path);
  CHECK(by_name.size() == ts.size());
  CHECK(bitwise_equal(by_name.at("ids"), ts[2].second));
  // No metadata: no __metadata__ key, and an empty map comes back.
  Metadata none = {{"stale", "x"}};
  parse_safetensors(safetensors_bytes(ts), "mem", &none);
  CHECK(none.empty());
  CHECK(safetensors_bytes(ts).find("__metadata__") == std::string::npos);
  CHECK(parse_safetensors(safetensors_bytes({}), "empty").empty());
}

TEST_CASE("safetensors: golden models hold exactly the initializers models.json lists, in that order") {
  nlohmann::json models = nlohmann::json::parse(read_bytes(kGolden + "/models/models.json"));
  int checked = 0;
  for (auto it = models.begin(); it != models.end(); ++it) {
    std::string path = kGolden + "/" + it->at("safetensors").get<std::string>();
    INFO(path);
    TensorList ts = load_safetensors_ordered(path);
    std::vector<std::string> names;
    for (auto& [k, t] : ts) {
      names.push_back(k);
      CHECK(t.dtype() == DType::F32);
      for (int64_t i = 0; i < t.numel(); ++i) REQUIRE(std::isfinite(t.item(i)));
    }
    CHECK(names == it->at("initializers").get<std::vector<std::string>>());
    // Our writer reproduces the same tensors (its JSON spacing differs from Python's json.dumps).
    TensorList again = parse_safetensors(safetensors_bytes(ts), "again");
    for (size_t i = 0; i < ts.size(); ++i) CHECK(bitwise_equal(again[i].second, ts[i].second));
    ++checked;
  }
  CHECK(checked == 10);
  auto cnn = load_safetensors(kGolden + "/models/cnn.safetensors");
  CHECK(cnn.at("conv1.weight").shape() == Shape{8, 1, 3, 3});
  CHECK(cnn.at("conv1.bias").shape() == Shape{8});
  CHECK(cnn.at("conv2.weight").shape() == Shape{16, 8, 3, 3});
  CHECK(cnn.at("fc.weight").shape() == Shape{10, 784});
  CHECK(cnn.at("fc.bias").shape() == Shape{10});
}

TEST_CASE("safetensors: every malformed input is a one-line xdnn::Error naming the file and tensor") {
  const std::string d24(24, '\0');
  auto parse = [](const std::string& bytes) { return [bytes] { parse_safetensors(bytes, "bad.safetensors"); }; };
  auto one = [&](const std::string& entry, const std::string& data) {
    return parse(st_with_header("{\"t\": " + entry + "}", data));
  };
  const std::string N = "bad.safetensors";
  check_error([] { load_safetensors("/nonexistent/m.safetensors"); }, "/nonexistent/m.safetensors", "no such file");
  check_error(parse("abc"), N, "expected at least 8");
  check_error(parse(std::string("\x10\0\0\0\0\0\0\0{}", 10)), N, "header length field says 16 bytes but only 2");
  check_error(parse(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10)), N, "at most 100000000");
  check_error(parse(st_with_header("{\"t\": {\"dtype\": \"F32\",", "")), N, "not valid JSON");
  check_error(parse(st_with_header("[1, 2]", "")), N, "must be a JSON object");
  check_error(parse(st_with_header("{\"__metadata__\": {\"lr\": 0.1}}", "")), N, "__metadata__ value of 'lr'");
  check_error(parse(st_with_header("{\"__metadata__\": [1]}", "")), N, "__metadata__ must be an object");
  check_error(one("[1]", d24), "tensor 't'", "must be an object");
  check_error(one("{\"shape\": [6], \"data_offsets\": [0, 24]}", d24), "tensor 't'", "lacks 'dtype'");
  check_error(one("{\"dtype\": \"BF16\", \"shape\": [6], \"data_offsets\": [0, 12]}", d24), "tensor 't'",
              "unsupported dtype 'BF16' (expected F32, F64 or I64)");
  check_error(one("{\"dtype\": \"F32\", \"shape\": 6, \"data_offsets\": [0, 24]}", d24), "tensor 't'",
              "shape must be an array");
  check_error(one("{\"dtype\": \"F32\", \"shape\": [-6], \"data_offsets\": [0, 24]}", d24), "tensor 't'",
              "shape entry must be a non-negative integer");
  check_error(one("{\"dtype\": \"F32\", \"shape\": [6.5], \"data_offsets\": [0, 24]}", d24), "tensor 't'",
              "non-negative integer");
  check_error(one("{\"dtype\": \"F32\", \"shape\": [6], \"data_offsets\": [0]}", d24), "tensor 't'",
              "data_offsets must be [begin, end]");
  check_error(one("{\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 4]}", d24), "tensor 't'", "begin > end");
  check_error(one("{\"dtype\": \"F32\", \"shape\": [6], \"data_offsets\": [4, 28]}", d24), "tensor 't'",
              "past the end of the 24-byte data buffer");
  check_error(one("{\"dtype\": \"F64\", \"shape\": [6], \"data_offsets\": [0, 24]}", d24), "tensor 't'",
              "span 24 bytes, expected 48 for F64 (6,)");
  check_error(one("{\"dtype\": \"F64\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 24]}", d24),
              "tensor 't'", "more elements than fit");
  check_error(one("{\"dtype\": \"F64\", \"shape\": [2305843009213693952], \"data_offsets\": [0, 24]}", d24),
              "tensor 't'", "is too large");
  check_error(parse(st_with_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
                                   " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [12, 20]}}",
                                   d24)),
              "tensor 'b'", "overlaps tensor 'a'");
  check_error(parse(st_with_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [6], \"data_offsets\": [0, 24]},"
                                   " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}",
                                   d24)),
              "tensor 'b'", "overlaps tensor 'a'");
  // Writing: duplicate or reserved names, invalid UTF-8, an unwritable path.
  Tensor x = Tensor::zeros({2});
  check_error([&] { safetensors_bytes({{"x", x}, {"x", x}}); }, "safetensors_bytes", "duplicate tensor name 'x'");
  check_error([&] { safetensors_bytes({{"__metadata__", x}}); }, "safetensors_bytes", "invalid tensor name");
  check_error([&] { safetensors_bytes({{"bad\xff", x}}); }, "safetensors_bytes", "cannot encode");
  check_error(
      [&] {
        save_safetensors("/nonexistent/w.safetensors", {{"x", x}});
      },
      "/nonexistent/w.safetensors", "cannot write");
}

TEST_CASE("safetensors: mutated files only ever raise xdnn::Error (deterministic fuzz)") {
  std::vector<std::string> seeds = {safetensors_bytes(st_sample(), {{"lr", "0.01"}}),
                                    safetensors_bytes({{"w", ramp({2, 2}, DType::F32)}}),
                                    read_bytes(kGolden + "/models/cnn.safetensors")};
  int accepted = mutation_property(seeds, 4000, 2, [](const std::string& b) { parse_safetensors(b, "mutant"); });
  CHECK(accepted > 0);
  CHECK(accepted < 4000);
}
