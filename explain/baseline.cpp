#include "explain/baseline.h"

#include <cerrno>
#include <cstdlib>
#include <string>

#include "engine/error.h"
#include "engine/ops_fill.h"
#include "engine/shape_util.h"
#include "explain/copies.h"

namespace xdnn::explain {

namespace {

// --baseline as a number; false when the text is not one (then it names a file).
bool baseline_number(const std::string& text, double& v) {
  const char* s = text.c_str();
  char* end = nullptr;
  errno = 0;
  v = std::strtod(s, &end);
  return end != s && *end == '\0' && errno != ERANGE;
}

}  // namespace

bool baseline_names_file(const std::string& value) {
  double v = 0;
  return !value.empty() && !baseline_number(value, v);
}

OptionSpec baseline_option(const std::string& default_value, const std::string& help) {
  OptionSpec spec{"baseline", default_value, help, "NUMBER|FILE", baseline_names_file};
  spec.rows_per_sample = true;
  return spec;
}

Tensor baseline_for(const Options& options, const Tensor& like) {
  const std::string text = options.get("baseline", "0");
  if (text.empty()) return Tensor(like.shape(), like.dtype(), like.device());
  double v = 0;
  if (baseline_number(text, v)) return ops::full(like.shape(), v, like.dtype(), like.device());
  Tensor b = options.array("baseline");
  if (!b.is_float()) throw Error("--baseline " + text + ": expected a float array, got " + b.describe());
  b = b.to(like.dtype()).to(like.device());  // a file is read on the host
  if (b.shape() == like.shape()) return b;
  Shape per_sample(like.shape().begin() + 1, like.shape().end());
  if (b.shape() == per_sample) {
    Shape one{1};
    one.insert(one.end(), per_sample.begin(), per_sample.end());
    return repeat_rows(b.reshape(one), like.dim(0));
  }
  throw Error("--baseline " + text + ": expected shape " + shape_str(like.shape()) + " or " + shape_str(per_sample) +
              ", got " + shape_str(b.shape()));
}

}  // namespace xdnn::explain
