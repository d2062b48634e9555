// R data frames -> columns of doubles. See data_frame.h.
#include "models/io/data_frame.h"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>

#include "engine/error.h"

namespace xdnn::tabular {

namespace {

// The attribute `key` of `obj` (its attribute pairlist), or nullptr.
const rdata::RObject* attribute(const rdata::RObject& obj, const std::string& key) {
  for (const rdata::RObject& attrs : obj.attributes)
    for (size_t i = 0; i < attrs.items.size() && i < attrs.tags.size(); ++i)
      if (attrs.tags[i] == key) return &attrs.items[i];
  return nullptr;
}

bool has_class(const rdata::RObject& obj, const std::string& cls) {
  const rdata::RObject* c = attribute(obj, "class");
  if (!c || c->type != rdata::STRSXP) return false;
  for (const std::string& s : c->strings)
    if (s == cls) return true;
  return false;
}

Column convert_column(const rdata::RObject& v, const std::string& name, const std::string& source) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Column col;
  col.name = name;
  const std::string where = source + " column '" + name + "'";
  if (v.type == rdata::REALSXP) {
    col.values = v.reals;
    for (double& x : col.values)
      if (std::isnan(x)) x = nan;  // R's NA_real_ is a NaN payload; keep one kind
    return col;
  }
  if (v.type != rdata::INTSXP && v.type != rdata::LGLSXP)
    throw Error(where + ": expected a numeric, logical or factor column, got " + rdata::sexp_type_name(v.type));
  col.values.reserve(v.ints.size());
  for (int32_t x : v.ints) col.values.push_back(x == INT32_MIN ? nan : static_cast<double>(x));
  if (!has_class(v, "factor")) return col;
  const rdata::RObject* levels = attribute(v, "levels");
  if (!levels || levels->type != rdata::STRSXP || levels->strings.empty())
    throw Error(where + ": a factor without a character vector of levels");
  col.levels = levels->strings;
  const double k = static_cast<double>(col.levels.size());
  for (double& x : col.values) {
    if (std::isnan(x)) continue;
    if (!(x >= 1 && x <= k))
      throw Error(where + ": factor code " + std::to_string(static_cast<int64_t>(x)) + " outside its " +
                  std::to_string(col.levels.size()) + " levels");
    x -= 1;  // R's codes are 1-based
  }
  return col;
}

}  // namespace

std::vector<std::string> DataFrame::column_names() const {
  std::vector<std::string> out;
  for (const Column& c : columns) out.push_back(c.name);
  return out;
}

const Column& DataFrame::column(const std::string& name, const std::string& role) const {
  for (const Column& c : columns)
    if (c.name == name) return c;
  std::string list;
  for (const Column& c : columns) list += (list.empty() ? "" : ", ") + c.name;
  throw Error(source + " has no column '" + name + "' (" + role + ")", "its columns: " + list);
}

DataFrame data_frame_from_r(const rdata::RObject& obj, const std::string& source) {
  if (obj.type != rdata::VECSXP || !has_class(obj, "data.frame"))
    throw Error(source + ": expected an R data frame (a list of class data.frame), got " +
                rdata::sexp_type_name(obj.type));
  const std::vector<std::string> names = obj.names();
  if (names.size() != obj.items.size())
    throw Error(source + ": data frame has " + std::to_string(obj.items.size()) + " columns but " +
                std::to_string(names.size()) + " names");
  DataFrame df;
  df.source = source;
  for (size_t c = 0; c < obj.items.size(); ++c) {
    Column col = convert_column(obj.items[c], names[c], source);
    if (c == 0) df.rows = static_cast<int64_t>(col.values.size());
    if (static_cast<int64_t>(col.values.size()) != df.rows)
      throw Error(source + " column '" + names[c] + "': " + std::to_string(col.values.size()) + " rows, expected " +
                  std::to_string(df.rows) + " as the first column");
    df.columns.push_back(std::move(col));
  }
  return df;
}

DataFrame read_r_data_frame(const std::string& dir, const std::string& object, const std::string& package) {
  const std::string base = (std::filesystem::path(dir) / "Rdata").string();
  for (const char* ext : {".rdx", ".rdb"})
    if (!std::filesystem::exists(base + ext))
      throw Error("R data base not found at " + base + ext + ": install the Debian package " + package,
                  "apt-get install -y --no-install-recommends " + package);
  const rdata::LazyLoadIndex index = rdata::read_lazyload_index(base);
  const rdata::RObject obj = rdata::read_lazyload_object(base, index, object);
  return data_frame_from_r(obj, base + ".rdb object '" + object + "'");
}

}  // namespace xdnn::tabular
