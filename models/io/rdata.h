// A reader for R's serialization format and R's lazy-load databases (the Rdata.rdx / Rdata.rdb pair an
// R package installs under data/), enough to pull character vectors out of a package's data sets.
//
// Format (R Internals, "Serialization formats"; R's src/main/serialize.c is the reference):
//   "X\n"                      XDR (big-endian) binary stream
//   int version (2 or 3), int writer R version, int minimal reader R version
//   version 3 only: int n, n bytes of the writer's native encoding name
//   one item, recursively:
//     int flags: bits 0-7 type, bit 8 "is object", bit 9 "has attributes", bit 10 "has tag",
//                bits 12-27 "levels" (for CHARSXP: the encoding bits; for REFSXP: the reference index)
//     NILVALUE_SXP (254) etc.: pseudo-types with no payload
//     SYMSXP (1): a CHARSXP (the name); added to the reference table
//     REFSXP (255): a back-reference to the table, index = flags >> 8, or the next int if that is 0
//     LISTSXP (2) / LANGSXP...: [attributes] [tag] CAR CDR, the CDR being the rest of the pairlist
//     CHARSXP (9): int length (-1 = NA_character_), then that many bytes
//     LGLSXP (10) / INTSXP (13): length, 4-byte ints; REALSXP (14): length, 8-byte doubles;
//     STRSXP (16): length, CHARSXP items; VECSXP (19) / EXPRSXP (20): length, items
//     lengths: int; -1 then two ints (upper, lower 32 bits) for long vectors
//     attributes (when bit 9 is set) follow the payload of vectors as a pairlist
//
// Lazy-load database (R's makeLazyLoadDB): Rdata.rdx is a serialized list (gzip-compressed like
// saveRDS output) with elements "variables" (a named list: object name -> integer c(offset, length)),
// "references" and "compressed". Each object is a record of Rdata.rdb at [offset, offset+length):
// 4-byte big-endian uncompressed length, then the compressed serialization. compressed TRUE (1) means
// zlib; 2 and 3 mean bzip2 / xz, where a 5th byte gives the actual method ('Z' zlib, '0' stored,
// '2' bzip2, 'X' xz). We read zlib and stored records and name the rest in a one-line error.
//
// Every malformed input throws xdnn::Error with one line naming the file (the `source` argument) and
// the byte offset / what was expected. Nesting depth and sizes are bounded so hostile files cannot
// exhaust the stack or memory.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace xdnn::rdata {

// SEXP type codes used here (R's Rinternals.h).
enum SexpType : int {
  NILSXP = 0,
  SYMSXP = 1,
  LISTSXP = 2,
  CLOSXP = 3,
  ENVSXP = 4,
  LANGSXP = 6,
  CHARSXP = 9,
  LGLSXP = 10,
  INTSXP = 13,
  REALSXP = 14,
  CPLXSXP = 15,
  STRSXP = 16,
  VECSXP = 19,
  EXPRSXP = 20,
  RAWSXP = 24,
  ALTREP_SXP = 238,
  ATTRLISTSXP = 239,
  ATTRLANGSXP = 240,
  BASEENV_SXP = 241,
  EMPTYENV_SXP = 242,
  PERSISTSXP = 247,
  PACKAGESXP = 248,
  NAMESPACESXP = 249,
  BASENAMESPACE_SXP = 250,
  MISSINGARG_SXP = 251,
  UNBOUNDVALUE_SXP = 252,
  GLOBALENV_SXP = 253,
  NILVALUE_SXP = 254,
  REFSXP = 255,
};

// One deserialized R value. Only the fields of its type are filled.
struct RObject {
  int type = NILSXP;                 // a SexpType (pseudo-types like NILVALUE_SXP become NILSXP)
  std::string name;                  // SYMSXP: the symbol
  std::vector<std::string> strings;  // STRSXP: elements (CHARSXP bytes as stored; NA -> "")
  std::vector<uint8_t> is_na;        // STRSXP: 1 where the element is NA_character_
  std::vector<int32_t> ints;         // LGLSXP / INTSXP (R's NA is INT32_MIN)
  std::vector<double> reals;         // REALSXP
  std::vector<uint8_t> raw;          // RAWSXP, CHARSXP bytes
  std::vector<RObject> items;        // VECSXP / EXPRSXP elements; LISTSXP: the CARs in order
  std::vector<std::string> tags;     // LISTSXP: the tag of each CAR ("" when untagged)
  std::vector<RObject> attributes;   // a LISTSXP (at most one element) when the value has attributes

  // names(x) when present, else empty.
  std::vector<std::string> names() const;
  // The element called `key` of a named VECSXP/LISTSXP; nullptr if absent.
  const RObject* get(const std::string& key) const;
};

const char* sexp_type_name(int type);  // "STRSXP", ... or "type 77"

// Parses a whole serialization stream starting with "X\n". Trailing bytes are an error.
// source: what the bytes are, for error messages ("Rdata.rdb object 'emma' at offset 1234").
RObject unserialize(const uint8_t* data, size_t size, const std::string& source);

// Inflates a zlib or gzip stream (detected from its first bytes). expected_size >= 0: the output
// must have exactly that many bytes; max_size bounds the output either way.
std::vector<uint8_t> inflate_bytes(const uint8_t* data, size_t size, int64_t expected_size, size_t max_size,
                                   const std::string& source);

// An .rdx index: object names with their [offset, offset + length) span in the .rdb.
struct LazyLoadIndex {
  std::vector<std::string> names;
  std::vector<int64_t> offsets, lengths;
  int compressed = 1;  // 0 none, 1 zlib, 2 bzip2, 3 xz (with a method byte per record)
};

// Parses the bytes of an .rdx file (gzip/zlib-compressed or plain serialization).
LazyLoadIndex parse_lazyload_index(const uint8_t* data, size_t size, const std::string& source);
// Decodes one .rdb record (length header + compressed serialization) into an R value.
RObject parse_lazyload_record(const uint8_t* data, size_t size, int compressed, const std::string& source);

// File-level helpers. `base` is the database path without extension (".../data/Rdata").
LazyLoadIndex read_lazyload_index(const std::string& base);
RObject read_lazyload_object(const std::string& base, const LazyLoadIndex& index, const std::string& name);

// The elements of a STRSXP (throws naming `what` if `obj` is not a character vector).
std::vector<std::string> character_vector(const RObject& obj, const std::string& what);

}  // namespace xdnn::rdata
