#include "models/io/npy.h"

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <vector>

#include "engine/file_io.h"

namespace xdnn {

static_assert(std::endian::native == std::endian::little, "the .npy reader copies little-endian data as is");

namespace {

constexpr std::string_view kMagic{"\x93NUMPY", 6};

[[noreturn]] void fail(const std::string& name, const std::string& msg) { throw Error(name + ": " + msg); }

// Where the header dict lies: bytes [dict_begin, dict_begin + dict_len); data follows it.
struct Prefix {
  int major = 0;
  uint64_t dict_begin = 0;
  uint64_t dict_len = 0;
};

// p: the first min(total, 12) bytes (or more); total: the size of the whole file.
Prefix parse_prefix(std::string_view p, uint64_t total, const std::string& name) {
  if (total < kMagic.size() || p.substr(0, kMagic.size()) != kMagic)
    fail(name, "not a .npy file (expected the magic string \\x93NUMPY, got '" + printable(p.substr(0, 6)) + "')");
  if (total < 10)
    fail(name, "truncated .npy header: file is " + std::to_string(total) + " bytes, expected at least 10");
  Prefix r;
  r.major = static_cast<unsigned char>(p[6]);
  int minor = static_cast<unsigned char>(p[7]);
  auto byte = [&](size_t i) { return static_cast<uint64_t>(static_cast<unsigned char>(p[i])); };
  if (r.major == 1 && minor == 0) {
    r.dict_begin = 10;
    r.dict_len = byte(8) | byte(9) << 8;
  } else if ((r.major == 2 || r.major == 3) && minor == 0) {
    if (total < 12)
      fail(name, "truncated .npy header: file is " + std::to_string(total) + " bytes, expected at least 12");
    r.dict_begin = 12;
    r.dict_len = byte(8) | byte(9) << 8 | byte(10) << 16 | byte(11) << 24;
  } else {
    fail(name, "unsupported .npy format version " + std::to_string(r.major) + "." + std::to_string(minor) +
                   " (expected 1.0, 2.0 or 3.0)");
  }
  if (r.dict_len > total - r.dict_begin)
    fail(name, "truncated .npy header: header length field says " + std::to_string(r.dict_len) + " bytes but only " +
                   std::to_string(total - r.dict_begin) + " follow");
  return r;
}

struct Meta {
  DType dtype = DType::F32;  // the tensor's dtype
  size_t file_itemsize = 4;  // bytes per element in the file ('<i4' is widened to I64)
  Shape shape;
  std::string descr;  // the file's, e.g. "<i4"
};

// Parses the Python dict literal of the header. Grammar (what numpy writes, plus whitespace freedom):
//   dict  := '{' (key ':' value (',' key ':' value)* ','?)? '}'
//   value := string | 'True' | 'False' | '(' (int (',' int)* ','?)? ')'
class DictParser {
 public:
  DictParser(std::string_view s, const std::string& name) : s_(s), name_(name) {}

  Meta parse() {
    std::string descr;
    int fortran = -1;
    bool have_descr = false, have_shape = false;
    Shape shape;
    expect('{');
    while (!eat('}')) {
      std::string key = string_literal();
      expect(':');
      if (key == "descr") {
        if (have_descr) bad("duplicate key 'descr'");
        descr = string_literal();
        have_descr = true;
      } else if (key == "fortran_order") {
        if (fortran != -1) bad("duplicate key 'fortran_order'");
        fortran = boolean();
      } else if (key == "shape") {
        if (have_shape) bad("duplicate key 'shape'");
        shape = tuple();
        have_shape = true;
      } else {
        bad("unexpected key '" + printable(key, 40) + "' (expected 'descr', 'fortran_order', 'shape')");
      }
      if (!eat(',')) {
        expect('}');
        break;
      }
    }
    skip_ws();
    if (i_ != s_.size()) bad("unexpected text after the dict");
    if (!have_descr || fortran == -1 || !have_shape)
      bad("header dict lacks " + std::string(!have_descr ? "'descr'" : fortran == -1 ? "'fortran_order'" : "'shape'"));
    if (fortran == 1)
      fail(name_, "fortran_order=True arrays are not supported (expected C order; save with np.ascontiguousarray)");
    Meta m;
    m.shape = std::move(shape);
    m.descr = descr;
    if (descr == "<f4") {
      m.dtype = DType::F32, m.file_itemsize = 4;
    } else if (descr == "<f8") {
      m.dtype = DType::F64, m.file_itemsize = 8;
    } else if (descr == "<i8") {
      m.dtype = DType::I64, m.file_itemsize = 8;
    } else if (descr == "<i4") {
      m.dtype = DType::I64, m.file_itemsize = 4;
    } else if (!descr.empty() && descr[0] == '>') {
      fail(name_, "big-endian dtype '" + printable(descr, 20) +
                      "' is not supported (expected little-endian '<f4', '<f8', '<i8' or '<i4')");
    } else {
      fail(name_, "unsupported dtype '" + printable(descr, 20) + "' (expected '<f4', '<f8', '<i8' or '<i4')");
    }
    return m;
  }

 private:
  [[noreturn]] void bad(const std::string& what) {
    std::string where = i_ >= s_.size() ? "at the end of the " + std::to_string(s_.size()) + "-byte header"
                                        : "at offset " + std::to_string(i_);
    fail(name_, "malformed .npy header dict: " + what + " " + where + " in \"" + printable(s_) + "\"");
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool eat(char c) {
    skip_ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) bad(std::string("expected '") + c + "'");
  }
  bool eat_word(std::string_view w) {
    skip_ws();
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  std::string string_literal() {
    skip_ws();
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"')) bad("expected a quoted string");
    char q = s_[i_++];
    size_t end = s_.find(q, i_);
    if (end == std::string_view::npos) bad("unterminated string");
    std::string v(s_.substr(i_, end - i_));
    i_ = end + 1;
    return v;
  }
  int boolean() {
    if (eat_word("True")) return 1;
    if (eat_word("False")) return 0;
    bad("expected True or False");
  }
  Shape tuple() {
    Shape shape;
    expect('(');
    while (!eat(')')) {
      shape.push_back(integer());
      if (!eat(',')) {
        expect(')');
        break;
      }
    }
    return shape;
  }
  int64_t integer() {
    skip_ws();
    if (i_ < s_.size() && s_[i_] == '-') bad("negative dimension");
    if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9') bad("expected a non-negative integer");
    int64_t v = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      if (__builtin_mul_overflow(v, int64_t{10}, &v) || __builtin_add_overflow(v, int64_t{s_[i_] - '0'}, &v))
        bad("dimension does not fit in 64 bits");
      ++i_;
    }
    if (i_ < s_.size() && s_[i_] == 'L') ++i_;  // Python 2 longs, as very old numpy wrote them
    return v;
  }

  std::string_view s_;
  const std::string& name_;
  size_t i_ = 0;
};

// Bytes the data must have; throws if the element count or byte count overflows.
uint64_t data_bytes(const Meta& m, const std::string& name) {
  uint64_t n = 1;
  for (int64_t d : m.shape)
    if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n))
      fail(name, "shape " + shape_str(m.shape) + " has more elements than fit in 64 bits");
  uint64_t bytes = 0;
  if (n > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(n, m.file_itemsize, &bytes))
    fail(name, "shape " + shape_str(m.shape) + " is too large");
  return bytes;
}

void check_data_size(const Meta& m, uint64_t expected, uint64_t have, const std::string& name) {
  if (have != expected)
    fail(name, std::string(have < expected ? "truncated data" : "trailing bytes after the data") + ": shape " +
                   shape_str(m.shape) + " of " + std::to_string(m.file_itemsize) + "-byte elements needs " +
                   std::to_string(expected) + " bytes, file has " + std::to_string(have));
}

// Copies file data into a new tensor (widening '<i4' to int64).
Tensor make_tensor(const Meta& m, const char* data) {
  Tensor t(m.shape, m.dtype);
  size_t n = static_cast<size_t>(t.numel());
  if (m.dtype == DType::I64 && m.file_itemsize == 4) {
    int64_t* out = t.data<int64_t>();
    for (size_t i = 0; i < n; ++i) {
      int32_t v;
      std::memcpy(&v, data + 4 * i, 4);
      out[i] = v;
    }
  } else if (n) {
    std::memcpy(t.raw_data(), data, n * m.file_itemsize);
  }
  return t;
}

const char* descr_of(DType d) {
  switch (d) {
    case DType::F32:
      return "<f4";
    case DType::F64:
      return "<f8";
    case DType::I64:
      return "<i8";
  }
  return "?";
}

}  // namespace

std::string npy_header(const Shape& dims, DType dtype) {
  std::string shape = "(";
  for (size_t i = 0; i < dims.size(); ++i) shape += (i ? ", " : "") + std::to_string(dims[i]);
  if (dims.size() == 1) shape += ",";
  shape += ")";
  std::string dict =
      std::string("{'descr': '") + descr_of(dtype) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // numpy pads so that the data starts at a multiple of 64 bytes, and ends the dict with '\n'.
  auto padded = [&](size_t prefix) { return (prefix + dict.size() + 1 + 63) / 64 * 64 - prefix; };
  size_t prefix = 10;
  size_t dict_len = padded(prefix);
  if (dict_len > 65535) {
    prefix = 12;
    dict_len = padded(prefix);
    if (dict_len > 0xffffffffULL)
      throw Error("save_npy: header of shape with " + std::to_string(dims.size()) +
                  " dimensions is too long for the .npy format");
  }
  std::string h(kMagic);
  h += static_cast<char>(prefix == 10 ? 1 : 2);
  h += '\0';
  for (size_t b = 0; b < prefix - 8; ++b) h += static_cast<char>((dict_len >> (8 * b)) & 0xff);
  h += dict;
  h.append(dict_len - dict.size() - 1, ' ');
  h += '\n';
  return h;
}

namespace {

std::string make_header(const Tensor& t) { return npy_header(t.shape(), t.dtype()); }

void check_savable(const Tensor& t, const std::string& name) {
  if (!t.defined()) fail(name, "cannot save an undefined tensor");
  if (t.device() != Device::CPU) fail(name, "cannot save a tensor that is not on the CPU (copy it to the CPU first)");
}

}  // namespace

Tensor parse_npy(const std::string& bytes, const std::string& name) {
  Prefix p = parse_prefix(bytes, bytes.size(), name);
  Meta m = DictParser(std::string_view(bytes).substr(p.dict_begin, p.dict_len), name).parse();
  uint64_t offset = p.dict_begin + p.dict_len;
  check_data_size(m, data_bytes(m, name), bytes.size() - offset, name);
  return make_tensor(m, bytes.data() + offset);
}

namespace {

// load_npy, load_npy_rows and npy_shape: the header always, then the data of rows [begin, end) when
// `rows` is given (nullptr: every row), or no data at all when `header_only`.
Tensor read_npy(const std::string& path, std::string* file_dtype, const std::pair<int64_t, int64_t>* rows,
                bool header_only, Shape* shape) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) fail(path, "cannot open .npy file: no such file");
  if (!fs::is_regular_file(st)) fail(path, "not a regular file (expected a .npy file)");
  uint64_t total = fs::file_size(path, ec);
  if (ec) fail(path, "cannot read file size: " + ec.message());
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(path, std::string("cannot open .npy file: ") + std::strerror(errno));
  struct Closer {
    std::FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{f};
  auto read_exact = [&](void* dst, uint64_t n) {
    if (n && std::fread(dst, 1, n, f) != n) fail(path, "read error or file changed while reading");
  };

  std::string head(static_cast<size_t>(std::min<uint64_t>(total, 12)), '\0');
  read_exact(head.data(), head.size());
  Prefix p = parse_prefix(head, total, path);
  // dict_len <= total was checked, so this allocation is bounded by the file size.
  head.resize(p.dict_begin + p.dict_len);
  if (head.size() > 12) read_exact(head.data() + 12, head.size() - 12);
  Meta m = DictParser(std::string_view(head).substr(p.dict_begin, p.dict_len), path).parse();
  if (file_dtype)
    *file_dtype = std::string(m.file_itemsize == 4 && m.dtype == DType::I64 ? "int32" : dtype_name(m.dtype)) + " ('" +
                  m.descr + "')";
  uint64_t offset = p.dict_begin + p.dict_len;
  check_data_size(m, data_bytes(m, path), total - offset, path);
  if (shape) *shape = m.shape;
  if (header_only) return Tensor();
  uint64_t bytes = total - offset;
  if (rows) {
    if (m.shape.empty()) fail(path, "a 0-d array has no rows");
    const auto [b, e] = *rows;
    if (b < 0 || e < b || e > m.shape[0])
      fail(path, "rows [" + std::to_string(b) + ", " + std::to_string(e) + ") are outside the file's " +
                     std::to_string(m.shape[0]) + " rows");
    const uint64_t row_bytes = m.shape[0] ? bytes / static_cast<uint64_t>(m.shape[0]) : 0;
    offset += static_cast<uint64_t>(b) * row_bytes;
    bytes = static_cast<uint64_t>(e - b) * row_bytes;
    m.shape[0] = e - b;
  }
  if (std::fseek(f, static_cast<long>(offset), SEEK_SET) != 0) fail(path, "cannot seek to the data");

  if (m.dtype == DType::I64 && m.file_itemsize == 4) {
    std::vector<char> buf(bytes);
    read_exact(buf.data(), buf.size());
    return make_tensor(m, buf.data());
  }
  Tensor t(m.shape, m.dtype);
  read_exact(t.raw_data(), bytes);
  return t;
}

}  // namespace

Tensor load_npy(const std::string& path, std::string* file_dtype) {
  return read_npy(path, file_dtype, nullptr, false, nullptr);
}

Tensor load_npy_rows(const std::string& path, int64_t begin, int64_t end, std::string* file_dtype) {
  const std::pair<int64_t, int64_t> rows{begin, end};
  return read_npy(path, file_dtype, &rows, false, nullptr);
}

Shape npy_shape(const std::string& path) {
  Shape shape;
  read_npy(path, nullptr, nullptr, true, &shape);
  return shape;
}

std::string npy_bytes(const Tensor& t) {
  check_savable(t, "npy_bytes");
  std::string out = make_header(t);
  out.append(static_cast<const char*>(t.raw_data()), static_cast<size_t>(t.numel()) * dtype_size(t.dtype()));
  return out;
}

void save_npy(const std::string& path, const Tensor& t) {
  check_savable(t, path);
  const std::string header = make_header(t);
  const size_t n = static_cast<size_t>(t.numel()) * dtype_size(t.dtype());
  write_file_atomic(path, {header, std::string_view(static_cast<const char*>(t.raw_data()), n)});
}

}  // namespace xdnn
