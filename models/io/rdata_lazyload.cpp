// R lazy-load databases (Rdata.rdx index, Rdata.rdb records) and the zlib streams inside them. See rdata.h for
// the format; rdata.cpp reads the serialization streams the records inflate to.
#include "models/io/rdata.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <fstream>
#include <iterator>

#include "engine/error.h"

namespace xdnn::rdata {

namespace {

constexpr size_t kMaxInflated = size_t(1) << 30;     // 1 GiB: no lazy-load object we read is near this
constexpr size_t kMaxIndexBytes = size_t(64) << 20;  // an .rdx is a few hundred bytes to a few KiB

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open file");
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

int64_t as_int(const RObject& v, size_t i, const std::string& what) {
  if ((v.type == INTSXP || v.type == LGLSXP) && i < v.ints.size() && v.ints[i] != INT32_MIN) return v.ints[i];
  if (v.type == REALSXP && i < v.reals.size() && v.reals[i] >= 0 && v.reals[i] < 9.0e15) {
    return static_cast<int64_t>(v.reals[i]);
  }
  throw Error(what + ": expected a number at element " + std::to_string(i) + " of a " + sexp_type_name(v.type));
}

}  // namespace

std::vector<uint8_t> inflate_bytes(const uint8_t* data, size_t size, int64_t expected_size, size_t max_size,
                                   const std::string& source) {
  if (size > UINT_MAX) throw Error(source + ": compressed stream of " + std::to_string(size) + " bytes is too large");
  if (expected_size >= 0 && static_cast<uint64_t>(expected_size) > max_size) {
    throw Error(source + ": declared uncompressed size " + std::to_string(expected_size) + " exceeds the limit of " +
                std::to_string(max_size) + " bytes");
  }
  z_stream zs{};
  // 15 + 32: zlib or gzip header, detected automatically.
  if (inflateInit2(&zs, 15 + 32) != Z_OK) throw Error(source + ": zlib initialisation failed");
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(size);
  std::vector<uint8_t> out(expected_size >= 0 ? static_cast<size_t>(expected_size)
                                              : std::min<size_t>(max_size, 1 << 16));
  size_t produced = 0;
  int rc = Z_OK;
  for (;;) {
    if (produced == out.size()) {
      if (expected_size >= 0 || out.size() >= max_size) {
        // One probe byte shows whether the stream goes on past the declared / allowed size.
        uint8_t probe;
        zs.next_out = &probe;
        zs.avail_out = 1;
        rc = inflate(&zs, Z_NO_FLUSH);
        if (zs.avail_out == 0) {
          inflateEnd(&zs);
          throw Error(
              source + ": compressed stream inflates to more than " +
              (expected_size >= 0 ? "the declared " + std::to_string(expected_size) : std::to_string(max_size)) +
              " bytes");
        }
        break;
      }
      out.resize(std::min(max_size, std::max<size_t>(1, out.size() * 2)));
    }
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - produced, UINT_MAX));
    rc = inflate(&zs, Z_NO_FLUSH);
    produced = static_cast<size_t>(zs.next_out - out.data());
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;  // input exhausted before the end of the stream
    if (rc != Z_OK && rc != Z_BUF_ERROR) break;
  }
  const size_t consumed = size - zs.avail_in;
  const std::string zmsg = zs.msg ? zs.msg : "data error";
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    throw Error(source + ": bad compressed stream (" +
                (rc == Z_DATA_ERROR ? "zlib: " + zmsg : std::string("truncated: stream ended early")) + ") after " +
                std::to_string(consumed) + " of " + std::to_string(size) + " input bytes");
  }
  if (expected_size >= 0 && produced != static_cast<size_t>(expected_size)) {
    throw Error(source + ": inflated to " + std::to_string(produced) + " bytes, expected the declared " +
                std::to_string(expected_size));
  }
  out.resize(produced);
  return out;
}

LazyLoadIndex parse_lazyload_index(const uint8_t* data, size_t size, const std::string& source) {
  std::vector<uint8_t> inflated;
  const uint8_t* p = data;
  size_t n = size;
  if (size >= 2 && !(data[0] == 'X' && data[1] == '\n')) {
    const bool gzip = data[0] == 0x1f && data[1] == 0x8b;
    const bool zlib = (data[0] & 0x0f) == 8 && ((data[0] << 8) | data[1]) % 31 == 0;
    if (!gzip && !zlib) {
      throw Error(source + ": expected a gzip/zlib stream or \"X\\n\" serialization at byte 0, got \"" +
                  printable(std::string_view((const char*)data, std::min<size_t>(size, 4))) + "\"");
    }
    inflated = inflate_bytes(data, size, -1, kMaxIndexBytes, source);
    p = inflated.data();
    n = inflated.size();
  }
  const RObject root = unserialize(p, n, source);
  if (root.type != VECSXP) throw Error(source + ": expected a list at the top level, got " + sexp_type_name(root.type));
  const RObject* vars = root.get("variables");
  if (!vars || vars->type != VECSXP) throw Error(source + ": expected a named list 'variables' in the index");
  LazyLoadIndex index;
  index.names = vars->names();
  if (index.names.size() != vars->items.size()) {
    throw Error(source + ": 'variables' has " + std::to_string(vars->items.size()) + " entries but " +
                std::to_string(index.names.size()) + " names");
  }
  for (size_t i = 0; i < vars->items.size(); ++i) {
    const RObject& span = vars->items[i];
    const std::string what = source + ": variables$" + printable(index.names[i]);
    if ((span.type == INTSXP ? span.ints.size() : span.reals.size()) != 2) {
      throw Error(what + ": expected c(offset, length), got a " + sexp_type_name(span.type));
    }
    index.offsets.push_back(as_int(span, 0, what));
    index.lengths.push_back(as_int(span, 1, what));
    if (index.offsets.back() < 0 || index.lengths.back() < 0) throw Error(what + ": negative offset or length");
  }
  // R writes `compressed` as TRUE (zlib) or 2/3; older indexes lack it and are zlib.
  if (const RObject* c = root.get("compressed"))
    index.compressed = static_cast<int>(as_int(*c, 0, source + ": compressed"));
  if (index.compressed < 0 || index.compressed > 3) {
    throw Error(source + ": unknown compression code " + std::to_string(index.compressed) + " (expected 0-3)");
  }
  return index;
}

RObject parse_lazyload_record(const uint8_t* data, size_t size, int compressed, const std::string& source) {
  if (compressed == 0) return unserialize(data, size, source);
  if (size < 4) throw Error(source + ": record of " + std::to_string(size) + " bytes, expected a 4-byte length header");
  const int64_t declared = (int64_t(data[0]) << 24) | (int64_t(data[1]) << 16) | (int64_t(data[2]) << 8) | data[3];
  size_t start = 4;
  char method = 'Z';
  if (compressed >= 2) {
    if (size < 5) throw Error(source + ": record of 4 bytes, expected a compression method byte at byte 4");
    method = static_cast<char>(data[4]);
    start = 5;
  }
  // zlib cannot expand more than ~1032:1, so a larger declared size is a corrupt header.
  const size_t cap = std::min(kMaxInflated, (size - start) * 1040 + 1024);
  if (method == '0') {
    if (static_cast<size_t>(declared) != size - start) {
      throw Error(source + ": stored record declares " + std::to_string(declared) + " bytes but holds " +
                  std::to_string(size - start));
    }
    return unserialize(data + start, size - start, source);
  }
  if (method != 'Z') {
    throw Error(source + ": unsupported compression method '" + printable(std::string(1, method)) +
                "' at byte 4 (only zlib 'Z' and stored '0' are read; bzip2/xz are not)");
  }
  if (static_cast<size_t>(declared) > cap) {
    throw Error(source + ": declared uncompressed size " + std::to_string(declared) + " at byte 0 is implausible for " +
                std::to_string(size - start) + " compressed bytes");
  }
  const std::vector<uint8_t> bytes = inflate_bytes(data + start, size - start, declared, cap, source);
  return unserialize(bytes.data(), bytes.size(), source + " (inflated)");
}

LazyLoadIndex read_lazyload_index(const std::string& base) {
  const std::string path = base + ".rdx";
  const std::vector<uint8_t> bytes = read_file(path);
  return parse_lazyload_index(bytes.data(), bytes.size(), path);
}

RObject read_lazyload_object(const std::string& base, const LazyLoadIndex& index, const std::string& name) {
  const std::string path = base + ".rdb";
  size_t i = 0;
  while (i < index.names.size() && index.names[i] != name) ++i;
  if (i == index.names.size()) throw Error(base + ".rdx: no object named '" + printable(name) + "'");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open file");
  f.seekg(0, std::ios::end);
  const int64_t file_size = static_cast<int64_t>(f.tellg());
  const int64_t offset = index.offsets[i], length = index.lengths[i];
  const std::string source = path + " object '" + printable(name) + "' at offset " + std::to_string(offset);
  if (offset > file_size || length > file_size - offset) {
    throw Error(source + ": record of " + std::to_string(length) + " bytes runs past the end of the " +
                std::to_string(file_size) + "-byte file");
  }
  std::vector<uint8_t> record(static_cast<size_t>(length));
  f.seekg(offset);
  f.read(reinterpret_cast<char*>(record.data()), length);
  if (!f) throw Error(source + ": read failed");
  return parse_lazyload_record(record.data(), record.size(), index.compressed, source);
}

}  // namespace xdnn::rdata
