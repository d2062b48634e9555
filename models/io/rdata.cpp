// R serialization / lazy-load database reader. See rdata.h for the format.
#include "models/io/rdata.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "engine/error.h"

namespace xdnn::rdata {

namespace {

constexpr int kMaxDepth = 200;                       // nesting bound (stack safety on hostile input)
constexpr size_t kMaxInflated = size_t(1) << 30;     // 1 GiB: no lazy-load object we read is near this
constexpr size_t kMaxIndexBytes = size_t(64) << 20;  // an .rdx is a few hundred bytes to a few KiB

bool is_pairlist_type(int t) { return t == LISTSXP || t == LANGSXP || t == ATTRLISTSXP || t == ATTRLANGSXP; }

// A cursor over one serialization stream.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& source) : p_(data), n_(size), source_(source) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(source_ + ": " + what + " at byte " + std::to_string(pos_));
  }

  void need(size_t bytes, const char* what) const {
    if (bytes > n_ - pos_) {
      fail(std::string("truncated: expected ") + std::to_string(bytes) + " more bytes (" + what + "), " +
           std::to_string(n_ - pos_) + " left");
    }
  }

  int32_t read_int(const char* what) {
    need(4, what);
    const uint32_t u = (uint32_t(p_[pos_]) << 24) | (uint32_t(p_[pos_ + 1]) << 16) | (uint32_t(p_[pos_ + 2]) << 8) |
                       uint32_t(p_[pos_ + 3]);
    pos_ += 4;
    return static_cast<int32_t>(u);
  }

  double read_double() {
    need(8, "double");
    uint64_t u = 0;
    for (int i = 0; i < 8; ++i) u = (u << 8) | p_[pos_ + i];
    pos_ += 8;
    double d;
    std::memcpy(&d, &u, 8);
    return d;
  }

  // A vector length: int, or -1 followed by (upper, lower) 32-bit halves. `min_bytes` per element
  // bounds the length by what is left in the stream before anything is allocated.
  size_t read_length(size_t min_bytes, const char* what) {
    const size_t at = pos_;
    int64_t len = read_int(what);
    if (len == -1) {
      const int64_t hi = static_cast<uint32_t>(read_int(what));
      const int64_t lo = static_cast<uint32_t>(read_int(what));
      if (hi > (int64_t(1) << 20)) fail(std::string("implausible long-vector length for ") + what);
      len = (hi << 32) | lo;
    }
    if (len < 0) {
      pos_ = at;
      fail(std::string("negative length ") + std::to_string(len) + " for " + what);
    }
    if (static_cast<uint64_t>(len) > (n_ - pos_) / min_bytes) {
      pos_ = at;
      fail(std::string("length ") + std::to_string(len) + " of " + what + " exceeds the " +
           std::to_string(n_ - pos_ - 4) + " bytes left");
    }
    return static_cast<size_t>(len);
  }

  void read_header() {
    need(2, "format magic");
    if (p_[0] != 'X' || p_[1] != '\n') {
      if ((p_[0] == 'A' || p_[0] == 'B') && p_[1] == '\n')
        fail("ASCII/native serialization is not supported, only XDR (\"X\\n\")");
      fail("expected the XDR serialization magic \"X\\n\", got \"" + printable(std::string_view((const char*)p_, 2)) +
           "\"");
    }
    pos_ = 2;
    const int32_t version = read_int("format version");
    if (version != 2 && version != 3) {
      pos_ -= 4;
      fail("unsupported serialization version " + std::to_string(version) + " (expected 2 or 3)");
    }
    read_int("writer R version");
    read_int("minimal R version");
    if (version == 3) {
      const int32_t nelen = read_int("native encoding length");
      if (nelen < 0 || nelen > 255) {
        pos_ -= 4;
        fail("implausible native encoding length " + std::to_string(nelen));
      }
      need(static_cast<size_t>(nelen), "native encoding name");
      pos_ += static_cast<size_t>(nelen);
    }
  }

  RObject read_item(int depth) { return read_item_with_flags(read_int("item flags"), depth); }

  void expect_end() const {
    if (pos_ != n_) fail(std::to_string(n_ - pos_) + " trailing bytes after the serialized value");
  }

 private:
  RObject read_item_with_flags(int32_t flags, int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than " + std::to_string(kMaxDepth));
    const int type = flags & 0xff;
    const bool has_attr = (flags >> 9) & 1;
    const bool has_tag = (flags >> 10) & 1;
    RObject obj;
    switch (type) {
      case NILVALUE_SXP:
        return obj;  // NILSXP
      case EMPTYENV_SXP:
      case BASEENV_SXP:
      case GLOBALENV_SXP:
      case UNBOUNDVALUE_SXP:
      case MISSINGARG_SXP:
      case BASENAMESPACE_SXP:
        obj.type = type;
        return obj;
      case REFSXP: {
        int64_t index = static_cast<uint32_t>(flags) >> 8;
        if (index == 0) index = read_int("reference index");
        if (index < 1 || index > static_cast<int64_t>(refs_.size())) {
          fail("reference " + std::to_string(index) + " to an unknown item (" + std::to_string(refs_.size()) +
               " known)");
        }
        return refs_[static_cast<size_t>(index - 1)];
      }
      case SYMSXP: {
        const RObject printname = read_item(depth + 1);
        if (printname.type != CHARSXP) fail("expected a CHARSXP symbol name");
        // R caps names at 10000 bytes (MAXIDSIZE); the cap also bounds what each reference copies.
        if (printname.raw.size() > 10000) fail("symbol name longer than 10000 bytes");
        obj.type = SYMSXP;
        obj.name.assign(printname.raw.begin(), printname.raw.end());
        refs_.push_back(obj);
        return obj;
      }
      case LISTSXP:
      case LANGSXP:
      case ATTRLISTSXP:
      case ATTRLANGSXP:
        return read_pairlist(flags, depth);
      case CHARSXP: {
        obj.type = CHARSXP;
        const int32_t len = read_int("CHARSXP length");
        if (len == -1) {
          obj.is_na.push_back(1);
        } else {
          if (len < 0) fail("negative CHARSXP length " + std::to_string(len));
          need(static_cast<size_t>(len), "CHARSXP bytes");
          obj.raw.assign(p_ + pos_, p_ + pos_ + len);
          pos_ += static_cast<size_t>(len);
        }
        break;
      }
      case LGLSXP:
      case INTSXP: {
        obj.type = type;
        const size_t len = read_length(4, sexp_type_name(type));
        obj.ints.resize(len);
        for (auto& v : obj.ints) v = read_int("integer element");
        break;
      }
      case REALSXP:
      case CPLXSXP: {
        obj.type = type;
        const size_t per = type == CPLXSXP ? 2 : 1;
        const size_t len = read_length(8 * per, sexp_type_name(type));
        obj.reals.resize(len * per);
        for (auto& v : obj.reals) v = read_double();
        break;
      }
      case RAWSXP: {
        obj.type = RAWSXP;
        const size_t len = read_length(1, "RAWSXP");
        obj.raw.assign(p_ + pos_, p_ + pos_ + len);
        pos_ += len;
        break;
      }
      case STRSXP: {
        obj.type = STRSXP;
        const size_t len = read_length(8, "STRSXP");  // each element: flags + length at least
        obj.strings.resize(len);
        obj.is_na.assign(len, 0);
        for (size_t i = 0; i < len; ++i) {
          const size_t at = pos_;
          const int32_t ef = read_int("STRSXP element flags");
          if ((ef & 0xff) != CHARSXP) {
            pos_ = at;
            fail("STRSXP element " + std::to_string(i) + " is " + sexp_type_name(ef & 0xff) + ", expected CHARSXP");
          }
          RObject s = read_item_with_flags(ef, depth + 1);
          if (!s.is_na.empty()) {
            obj.is_na[i] = 1;
          } else {
            obj.strings[i].assign(s.raw.begin(), s.raw.end());
          }
        }
        break;
      }
      case VECSXP:
      case EXPRSXP: {
        obj.type = type;
        const size_t len = read_length(4, sexp_type_name(type));
        obj.items.reserve(len);
        for (size_t i = 0; i < len; ++i) obj.items.push_back(read_item(depth + 1));
        break;
      }
      case ALTREP_SXP:
        return read_altrep(depth);
      default:
        pos_ -= 4;
        fail(std::string("unsupported SEXP type ") + sexp_type_name(type));
    }
    (void)has_tag;  // only pairlists carry tags
    if (has_attr) read_attributes(obj, depth);
    return obj;
  }

  void read_attributes(RObject& obj, int depth) {
    RObject attr = read_item(depth + 1);
    if (attr.type != LISTSXP) fail(std::string("expected a pairlist of attributes, got ") + sexp_type_name(attr.type));
    obj.attributes.push_back(std::move(attr));
  }

  // Pairlist cells: [attributes] [tag] CAR, then the CDR. The CDR chain is followed iteratively so
  // long pairlists do not recurse.
  RObject read_pairlist(int32_t flags, int depth) {
    RObject list;
    list.type = LISTSXP;
    for (;;) {
      const int type = flags & 0xff;
      if ((flags >> 9) & 1) read_attributes(list, depth);  // attributes of the first cell are the list's
      std::string tag;
      if ((flags >> 10) & 1) {
        const RObject t = read_item(depth + 1);
        if (t.type == SYMSXP) tag = t.name;
      }
      list.tags.push_back(tag);
      list.items.push_back(read_item(depth + 1));
      (void)type;
      const size_t at = pos_;
      const int32_t next = read_int("pairlist CDR flags");
      if (is_pairlist_type(next & 0xff)) {
        flags = next;
        continue;
      }
      if ((next & 0xff) != NILVALUE_SXP) {
        pos_ = at;
        fail(std::string("pairlist ends in ") + sexp_type_name(next & 0xff) + ", expected NILVALUE_SXP");
      }
      return list;
    }
  }

  // ALTREP: info pairlist (class symbol, package symbol, base type), state, attributes. We expand the
  // compact sequences and wrappers R writes for plain data; other classes are named in an error.
  RObject read_altrep(int depth) {
    const size_t at = pos_;
    const RObject info = read_item(depth + 1);
    RObject state = read_item(depth + 1);
    RObject attr = read_item(depth + 1);
    if (info.type != LISTSXP || info.items.empty() || info.items[0].type != SYMSXP) {
      pos_ = at;
      fail("malformed ALTREP class information");
    }
    const std::string& cls = info.items[0].name;
    RObject obj;
    if (cls == "compact_intseq" || cls == "compact_realseq") {
      if (state.type != REALSXP || state.reals.size() != 3) fail("malformed " + cls + " state");
      const double n = state.reals[0], first = state.reals[1], step = state.reals[2];
      if (!(n >= 0 && n <= double(n_) * 16 + 1024)) fail("implausible " + cls + " length");
      obj.type = cls == "compact_intseq" ? INTSXP : REALSXP;
      for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) {
        const double v = first + step * static_cast<double>(i);
        if (obj.type == INTSXP) {
          if (!(v >= INT32_MIN && v <= INT32_MAX)) fail("compact_intseq element out of range");
          obj.ints.push_back(static_cast<int32_t>(v));
        } else {
          obj.reals.push_back(v);
        }
      }
    } else if (cls.rfind("wrap_", 0) == 0) {
      if (state.type != LISTSXP || state.items.empty()) fail("malformed " + cls + " state");
      obj = std::move(state.items[0]);
    } else {
      pos_ = at;
      fail("unsupported ALTREP class '" + printable(cls) + "'");
    }
    if (attr.type == LISTSXP) {
      obj.attributes.clear();
      obj.attributes.push_back(std::move(attr));
    }
    return obj;
  }

  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  const std::string& source_;
  std::vector<RObject> refs_;  // symbols (the only referenceable items we accept), in order of appearance
};

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

std::vector<std::string> RObject::names() const {
  for (const RObject& attrs : attributes) {
    for (size_t i = 0; i < attrs.items.size(); ++i) {
      if (attrs.tags[i] == "names" && attrs.items[i].type == STRSXP) return attrs.items[i].strings;
    }
  }
  return {};
}

const RObject* RObject::get(const std::string& key) const {
  if (type == LISTSXP) {
    for (size_t i = 0; i < items.size(); ++i)
      if (tags[i] == key) return &items[i];
    return nullptr;
  }
  const std::vector<std::string> n = names();
  for (size_t i = 0; i < n.size() && i < items.size(); ++i)
    if (n[i] == key) return &items[i];
  return nullptr;
}

const char* sexp_type_name(int type) {
  switch (type) {
    case NILSXP:
      return "NILSXP";
    case SYMSXP:
      return "SYMSXP";
    case LISTSXP:
      return "LISTSXP";
    case CLOSXP:
      return "CLOSXP";
    case ENVSXP:
      return "ENVSXP";
    case LANGSXP:
      return "LANGSXP";
    case CHARSXP:
      return "CHARSXP";
    case LGLSXP:
      return "LGLSXP";
    case INTSXP:
      return "INTSXP";
    case REALSXP:
      return "REALSXP";
    case CPLXSXP:
      return "CPLXSXP";
    case STRSXP:
      return "STRSXP";
    case VECSXP:
      return "VECSXP";
    case EXPRSXP:
      return "EXPRSXP";
    case RAWSXP:
      return "RAWSXP";
    case ALTREP_SXP:
      return "ALTREP_SXP";
    case NILVALUE_SXP:
      return "NILVALUE_SXP";
    case REFSXP:
      return "REFSXP";
    case PERSISTSXP:
      return "PERSISTSXP";
    case NAMESPACESXP:
      return "NAMESPACESXP";
    case PACKAGESXP:
      return "PACKAGESXP";
    case GLOBALENV_SXP:
      return "GLOBALENV_SXP";
    case EMPTYENV_SXP:
      return "EMPTYENV_SXP";
    case BASEENV_SXP:
      return "BASEENV_SXP";
    default:
      break;
  }
  static thread_local char buf[32];
  std::snprintf(buf, sizeof buf, "type %d", type);
  return buf;
}

RObject unserialize(const uint8_t* data, size_t size, const std::string& source) {
  Reader r(data, size, source);
  r.read_header();
  RObject obj = r.read_item(0);
  r.expect_end();
  return obj;
}

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

std::vector<std::string> character_vector(const RObject& obj, const std::string& what) {
  if (obj.type != STRSXP) throw Error(what + ": expected a character vector (STRSXP), got " + sexp_type_name(obj.type));
  return obj.strings;
}

}  // namespace xdnn::rdata
