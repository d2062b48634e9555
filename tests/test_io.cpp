// Tensor files and datasets: .npy, .safetensors, Fashion-MNIST IDX.
// Round trips for every dtype/version, the golden files, one test per malformed-input error, and a
// seeded mutation test (the property the libFuzzer harnesses in tests/fuzz/ check: the parsers only
// ever throw xdnn::Error, whatever the bytes).
#include <doctest/doctest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "engine/random.h"
#include "models/npy.h"

using namespace xdnn;
namespace fs = std::filesystem;

namespace {

const std::string kGolden = "/work/shared/golden";

// A scratch folder unique to this process, removed at exit.
struct ScratchDir {
  fs::path dir;
  ScratchDir() {
    dir = fs::temp_directory_path() / ("xdnn_test_io_" + std::to_string(::getpid()));
    fs::create_directories(dir);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string path(const std::string& name) const { return (dir / name).string(); }
};
const ScratchDir& scratch() {
  static ScratchDir d;
  return d;
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The message of the xdnn::Error that fn throws ("" if it throws none; other exceptions propagate).
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Checks that fn throws an xdnn::Error whose message is one line, names `name` and contains `part`.
void check_error(const std::function<void()>& fn, const std::string& name, const std::string& part) {
  std::string msg = error_of(fn);
  INFO("message: " << msg);
  CHECK(!msg.empty());
  CHECK(msg.find('\n') == std::string::npos);
  CHECK(msg.find(name) != std::string::npos);
  CHECK(msg.find(part) != std::string::npos);
}

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
