// R data frames as columns of numbers, read from an R package's lazy-load database (models/io/rdata.h).
//
// An R data frame is a VECSXP with attributes names (column names), class "data.frame" and row.names;
// each column is a REALSXP, an INTSXP / LGLSXP, or a factor: an INTSXP of 1-based level codes with
// attributes levels (STRSXP) and class "factor" (R Language Definition §2.3.1, "Factors"). We turn every
// column into doubles: numbers as they are, factor codes to 0-based level indices; R's NA (INT32_MIN for
// integers, any NaN for doubles) becomes NaN and is counted, so a caller can refuse it by name.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/io/rdata.h"

namespace xdnn::tabular {

struct Column {
  std::string name;
  std::vector<double> values;       // (rows); factor columns: 0-based level index; NA: NaN
  std::vector<std::string> levels;  // non-empty exactly for factors
  bool is_factor() const { return !levels.empty(); }
};

struct DataFrame {
  std::string source;  // "carData::Arrests", for messages
  int64_t rows = 0;
  std::vector<Column> columns;
  std::vector<std::string> column_names() const;
  // The column called `name`; an Error naming the data set and listing its columns when absent.
  // `role` says what the column is wanted for in that message ("protected attribute").
  const Column& column(const std::string& name, const std::string& role) const;
};

// Converts an unserialized R data frame. Throws naming `source` when `obj` is not a data frame, a column
// is not numeric / logical / factor, columns differ in length, or a factor code is outside its levels.
DataFrame data_frame_from_r(const rdata::RObject& obj, const std::string& source);

// Reads the data frame `object` from the lazy-load database DIR/Rdata.{rdx,rdb}. A missing database is
// an Error naming `package` (the Debian package to install).
DataFrame read_r_data_frame(const std::string& dir, const std::string& object, const std::string& package);

}  // namespace xdnn::tabular
