// R serialization streams (XDR binary, versions 2 and 3). See rdata.h for the format; rdata_lazyload.cpp
// reads the lazy-load databases whose records hold such streams.
#include "models/io/rdata.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>

#include "engine/error.h"

namespace xdnn::rdata {

namespace {

constexpr int kMaxDepth = 200;  // nesting bound (stack safety on hostile input)

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

std::vector<std::string> character_vector(const RObject& obj, const std::string& what) {
  if (obj.type != STRSXP) throw Error(what + ": expected a character vector (STRSXP), got " + sexp_type_name(obj.type));
  return obj.strings;
}

}  // namespace xdnn::rdata
