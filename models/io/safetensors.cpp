#include "models/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "engine/file_io.h"

namespace xdnn {

static_assert(std::endian::native == std::endian::little, "safetensors data is copied as little-endian bytes");

namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeader = 100000000;

[[noreturn]] void fail(const std::string& name, const std::string& msg) { throw Error(name + ": " + msg); }

const char* st_dtype_name(DType d) {
  switch (d) {
    case DType::F32:
      return "F32";
    case DType::F64:
      return "F64";
    case DType::I64:
      return "I64";
  }
  return "?";
}

// One tensor of the header: its data is bytes [begin, end) of the buffer after the header.
struct Entry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

struct Layout {
  std::vector<Entry> entries;  // sorted by data offset
  Metadata metadata;
  uint64_t data_start = 0;  // 8 + header length
};

// first8: the first min(total, 8) bytes; total: size of the whole file. Returns the header length.
uint64_t header_length(std::string_view first8, uint64_t total, const std::string& name) {
  if (total < 8)
    fail(name, "not a safetensors file: " + std::to_string(total) + " bytes, expected at least 8 (header length)");
  uint64_t n = 0;
  for (int b = 0; b < 8; ++b) n |= static_cast<uint64_t>(static_cast<unsigned char>(first8[b])) << (8 * b);
  // The reference implementation refuses headers over 100 MB; so do we, before allocating one.
  if (n > kMaxHeader)
    fail(name, "not a safetensors file: header length field says " + std::to_string(n) + " bytes (at most " +
                   std::to_string(kMaxHeader) + " allowed)");
  if (n > total - 8)
    fail(name, "not a safetensors file or truncated header: header length field says " + std::to_string(n) +
                   " bytes but only " + std::to_string(total - 8) + " follow");
  return n;
}

uint64_t get_uint(const json& v, const std::string& name, const std::string& what) {
  if (!v.is_number_unsigned()) fail(name, what + " must be a non-negative integer, got JSON " + v.type_name());
  return v.get<uint64_t>();
}

Entry parse_entry(const std::string& key, const json& v, uint64_t buffer_size, const std::string& name) {
  const std::string tname = "tensor '" + printable(key) + "'";
  if (!v.is_object()) fail(name, tname + ": header entry must be an object with dtype, shape, data_offsets");
  auto field = [&](const char* f) -> const json& {
    auto it = v.find(f);
    if (it == v.end()) fail(name, tname + ": header entry lacks '" + f + "'");
    return *it;
  };
  Entry e;
  e.name = key;
  const json& dt = field("dtype");
  if (!dt.is_string()) fail(name, tname + ": dtype must be a string");
  const std::string& d = dt.get_ref<const std::string&>();
  if (d == "F32") {
    e.dtype = DType::F32;
  } else if (d == "F64") {
    e.dtype = DType::F64;
  } else if (d == "I64") {
    e.dtype = DType::I64;
  } else {
    fail(name, tname + ": unsupported dtype '" + printable(d, 20) + "' (expected F32, F64 or I64)");
  }
  const json& sh = field("shape");
  if (!sh.is_array()) fail(name, tname + ": shape must be an array of integers");
  uint64_t numel = 1;
  for (const json& s : sh) {
    uint64_t n = get_uint(s, name, tname + ": shape entry");
    if (n > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, n, &numel))
      fail(name, tname + ": shape has more elements than fit in 64 bits");
    e.shape.push_back(static_cast<int64_t>(n));
  }
  const json& off = field("data_offsets");
  if (!off.is_array() || off.size() != 2) fail(name, tname + ": data_offsets must be [begin, end]");
  e.begin = get_uint(off[0], name, tname + ": data_offsets[0]");
  e.end = get_uint(off[1], name, tname + ": data_offsets[1]");
  const std::string where = "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
  if (e.begin > e.end) fail(name, tname + ": " + where + " has begin > end");
  if (e.end > buffer_size)
    fail(name, tname + ": " + where + " run past the end of the " + std::to_string(buffer_size) + "-byte data buffer");
  uint64_t bytes = 0;
  if (numel > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, dtype_size(e.dtype), &bytes))
    fail(name, tname + ": shape " + shape_str(e.shape) + " is too large");
  if (bytes != e.end - e.begin)
    fail(name, tname + ": " + where + " span " + std::to_string(e.end - e.begin) + " bytes, expected " +
                   std::to_string(bytes) + " for " + d + " " + shape_str(e.shape));
  return e;
}

// header: the JSON text; buffer_size: bytes after the header.
Layout parse_header(std::string_view header, uint64_t header_len, uint64_t buffer_size, const std::string& name) {
  json h;
  try {
    h = json::parse(header.begin(), header.end());
  } catch (const json::exception& ex) {
    fail(name, "safetensors header is not valid JSON: " + printable(ex.what(), 200));
  }
  if (!h.is_object()) fail(name, "safetensors header must be a JSON object");
  Layout L;
  L.data_start = 8 + header_len;
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail(name, "__metadata__ must be an object of strings");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail(name, "__metadata__ value of '" + printable(m.key()) + "' must be a string");
        L.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    L.entries.push_back(parse_entry(it.key(), *it, buffer_size, name));
  }
  std::sort(L.entries.begin(), L.entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  // Non-empty ranges must not overlap (sorted by begin, so each need only clear the furthest end so far).
  const Entry* furthest = nullptr;
  for (const Entry& e : L.entries) {
    if (e.begin == e.end) continue;
    if (furthest && e.begin < furthest->end)
      fail(name, "tensor '" + printable(e.name) + "' data [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                     ") overlaps tensor '" + printable(furthest->name) + "' [" + std::to_string(furthest->begin) +
                     ", " + std::to_string(furthest->end) + ")");
    if (!furthest || e.end > furthest->end) furthest = &e;
  }
  return L;
}

// The header bytes (length + padded JSON) for these tensors, data laid out in the given order.
std::string make_header(const TensorList& tensors, const Metadata& metadata, const std::string& name) {
  using ojson = nlohmann::ordered_json;
  ojson h = ojson::object();
  if (!metadata.empty()) {
    ojson m = ojson::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    h["__metadata__"] = m;
  }
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [tname, t] : tensors) {
    if (tname.empty() || tname == "__metadata__") fail(name, "invalid tensor name '" + printable(tname) + "'");
    if (!seen.insert(tname).second) fail(name, "duplicate tensor name '" + printable(tname) + "'");
    if (!t.defined()) fail(name, "tensor '" + printable(tname) + "' is undefined");
    if (t.device() != Device::CPU) fail(name, "tensor '" + printable(tname) + "' is not on the CPU");
    uint64_t bytes = static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype());
    ojson e = ojson::object();
    e["dtype"] = st_dtype_name(t.dtype());
    e["shape"] = ojson::array();
    for (int64_t d : t.shape()) e["shape"].push_back(d);
    e["data_offsets"] = ojson::array({offset, offset + bytes});
    h[tname] = e;
    offset += bytes;
  }
  std::string text;
  try {
    text = h.dump();
  } catch (const ojson::exception& ex) {  // names or metadata that are not UTF-8
    fail(name, "cannot encode safetensors header: " + printable(ex.what(), 200));
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  std::string out(8, '\0');
  for (int b = 0; b < 8; ++b) out[b] = static_cast<char>((static_cast<uint64_t>(text.size()) >> (8 * b)) & 0xff);
  return out + text;
}

}  // namespace

TensorList parse_safetensors(const std::string& bytes, const std::string& name, Metadata* metadata) {
  uint64_t n = header_length(bytes, bytes.size(), name);
  Layout L = parse_header(std::string_view(bytes).substr(8, n), n, bytes.size() - 8 - n, name);
  TensorList out;
  for (const Entry& e : L.entries) {
    Tensor t(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.raw_data(), bytes.data() + L.data_start + e.begin, e.end - e.begin);
    out.emplace_back(e.name, std::move(t));
  }
  if (metadata) *metadata = std::move(L.metadata);
  return out;
}

namespace {

// Reads the header of a file, and the tensors' data unless with_data is false.
TensorList load_file(const std::string& path, Metadata* metadata, bool with_data) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) fail(path, "cannot open safetensors file: no such file");
  if (!fs::is_regular_file(st)) fail(path, "not a regular file (expected a .safetensors file)");
  uint64_t total = fs::file_size(path, ec);
  if (ec) fail(path, "cannot read file size: " + ec.message());
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(path, std::string("cannot open safetensors file: ") + std::strerror(errno));
  struct Closer {
    std::FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{f};
  auto read_at = [&](uint64_t pos, void* dst, uint64_t n) {
    if (!n) return;
    if (std::fseek(f, static_cast<long>(pos), SEEK_SET) != 0 || std::fread(dst, 1, n, f) != n)
      fail(path, "read error or file changed while reading");
  };
  std::string first8(static_cast<size_t>(std::min<uint64_t>(total, 8)), '\0');
  read_at(0, first8.data(), first8.size());
  uint64_t n = header_length(first8, total, path);
  std::string header(n, '\0');  // n <= file size, checked above
  read_at(8, header.data(), n);
  Layout L = parse_header(header, n, total - 8 - n, path);
  TensorList out;
  for (const Entry& e : L.entries) {
    if (!with_data) break;
    Tensor t(e.shape, e.dtype);
    read_at(L.data_start + e.begin, t.raw_data(), e.end - e.begin);
    out.emplace_back(e.name, std::move(t));
  }
  if (metadata) *metadata = std::move(L.metadata);
  return out;
}

}  // namespace

TensorList load_safetensors_ordered(const std::string& path, Metadata* metadata) {
  return load_file(path, metadata, true);
}

Metadata load_safetensors_metadata(const std::string& path) {
  Metadata m;
  load_file(path, &m, false);
  return m;
}

std::map<std::string, Tensor> load_safetensors(const std::string& path, Metadata* metadata) {
  std::map<std::string, Tensor> out;
  for (auto& [k, t] : load_safetensors_ordered(path, metadata)) out.emplace(k, std::move(t));
  return out;
}

std::string safetensors_bytes(const TensorList& tensors, const Metadata& metadata) {
  std::string out = make_header(tensors, metadata, "safetensors_bytes");
  for (const auto& [k, t] : tensors)
    out.append(static_cast<const char*>(t.raw_data()), static_cast<size_t>(t.numel()) * dtype_size(t.dtype()));
  return out;
}

void save_safetensors(const std::string& path, const TensorList& tensors, const Metadata& metadata) {
  const std::string header = make_header(tensors, metadata, path);
  std::vector<std::string_view> pieces = {header};
  for (const auto& [k, t] : tensors)
    pieces.emplace_back(static_cast<const char*>(t.raw_data()), static_cast<size_t>(t.numel()) * dtype_size(t.dtype()));
  write_file_atomic(path, pieces);  // a killed run leaves the old checkpoint or the new one, never a torn one
}

}  // namespace xdnn
