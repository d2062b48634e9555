#include "explain/baseline.h"

#include <cerrno>
#include <cstdlib>
#include <string>

#include "engine/error.h"
#include "engine/shape_util.h"
#include "explain/copies.h"
#include "models/io/npy.h"

namespace xdnn::explain {

Tensor baseline_for(const Options& options, const Tensor& like) {
  const std::string text = options.get("baseline", "0");
  if (text.empty()) return Tensor(like.shape(), like.dtype());
  const char* s = text.c_str();
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s, &end);
  if (end != s && *end == '\0' && errno != ERANGE) return Tensor::full(like.shape(), v, like.dtype());
  Tensor b = load_npy(text);
  if (!b.is_float()) throw Error("--baseline " + text + ": expected a float array, got " + b.describe());
  b = b.to(like.dtype());
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
