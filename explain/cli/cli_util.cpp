// Small parsing helpers shared by the cmd_*.cpp files (declared in explain/cli/commands.h).
#include <cmath>
#include <sstream>

#include "engine/error.h"

#include "explain/cli/commands.h"

namespace xdnn::cli {

std::vector<std::string> split_commas(const std::string& text, bool keep_empty) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    if (keep_empty || !item.empty()) out.push_back(item);
  return out;
}

void check_finite(const Tensor& x, const std::string& path) {
  if (!x.is_float()) return;
  for (int64_t i = 0; i < x.numel(); ++i)
    if (!std::isfinite(x.item(i)))
      throw Error(path + ": element " + std::to_string(i) + " is " + (std::isnan(x.item(i)) ? "NaN" : "infinite"),
                  "inputs must be finite");
}

// float64 (the default of explain, evaluate and svcca) runs the float32 weights and inputs in double, as
// the golden references do: near-ties in max-pooling and near-zero ReLU inputs (IG nodes close to the
// baseline, say) then resolve as in exact arithmetic. The cost on the models here is small.
void set_precision(Model& model, const std::string& precision) {
  if (precision == "float64")
    model.to(DType::F64);
  else if (precision == "float32")
    model.to(DType::F32);
  else
    throw Error("--precision '" + precision + "': expected float32 or float64");
}

}  // namespace xdnn::cli
