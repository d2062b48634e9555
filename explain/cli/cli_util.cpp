// Small helpers shared by the cmd_*.cpp files (declared in explain/cli/commands.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "engine/dispatch.h"
#include "engine/error.h"
#include "engine/parallel.h"
#include "explain/cli/commands.h"
#include "explain/finite.h"
#include "models/io/npy.h"
#include "models/load.h"
#include "models/model.h"
#include "models/zoo.h"

namespace xdnn::cli {

namespace {
std::string g_command_being_run;
}  // namespace

void set_command_being_run(const std::string& name) { g_command_being_run = name; }

bool builds_options(const CLI::App& cmd) { return cmd.get_name() == g_command_being_run; }

std::map<std::string, std::string> parse_name_values(const std::vector<std::string>& values, const std::string& option,
                                                     const std::string& example) {
  std::map<std::string, std::string> out;
  for (const auto& kv : values) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(option + " '" + kv + "': expected NAME=VALUE, e.g. " + option + " " + example);
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

std::vector<std::string> split_commas(const std::string& text, bool keep_empty) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    if (keep_empty || !item.empty()) out.push_back(item);
  return out;
}

void check_finite(const Tensor& x, const std::string& path) {
  const int64_t i = explain::first_nonfinite(x);
  if (i < 0) return;
  const double v = x.to(Device::CPU).item(i);
  throw Error(path + ": element " + std::to_string(i) + " is " + (std::isnan(v) ? "NaN" : "infinite"),
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

namespace {

// A bound as the user would write it: 1, 0.5, 1e+06 -> 1000000.
std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

// The whole string as a finite number, or an error message.
std::string parse_number(const std::string& text, double& value) {
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) return "expected a number, got '" + text + "'";
  if (!std::isfinite(value)) return "must be a finite number, got '" + text + "'";
  return "";
}

}  // namespace

CLI::Validator at_least(double min) {
  return CLI::Validator(
      [min](std::string& text) {
        double v = 0;
        std::string e = parse_number(text, v);
        if (e.empty() && v < min) e = "must be >= " + number_text(min) + ", got " + text;
        return e;
      },
      ">=" + number_text(min));
}

CLI::Validator greater_than(double min) {
  return CLI::Validator(
      [min](std::string& text) {
        double v = 0;
        std::string e = parse_number(text, v);
        if (e.empty() && !(v > min)) e = "must be > " + number_text(min) + ", got " + text;
        return e;
      },
      ">" + number_text(min));
}

CLI::Validator between(double min, double max) {
  return CLI::Validator(
      [min, max](std::string& text) {
        double v = 0;
        std::string e = parse_number(text, v);
        if (e.empty() && (v < min || v > max))
          e = "must be between " + number_text(min) + " and " + number_text(max) + ", got " + text;
        return e;
      },
      number_text(min) + ".." + number_text(max));
}

namespace {

void nonfinite(const std::string& what, const Tensor& t, int64_t i, bool allow) {
  const double v = t.to(Device::CPU).item(i);
  const std::string msg =
      what + ": element " + std::to_string(i) + " of " + t.describe() + " is " + (std::isnan(v) ? "NaN" : "infinite");
  if (!allow) throw Error(msg, "every input and weight must be finite; --allow-nonfinite proceeds anyway");
  std::fprintf(stderr, "xdnn: warning: %s (proceeding: --allow-nonfinite)\n", msg.c_str());
}

}  // namespace

void check_finite_input(const Tensor& x, const std::string& what, bool allow) {
  const int64_t i = explain::first_nonfinite(x);
  if (i >= 0) nonfinite(what, x, i, allow);
}

void check_finite_model(Model& model, const std::string& model_name, bool allow) {
  for (Param* p : model.params()) {
    const int64_t i = explain::first_nonfinite(p->value);
    if (i >= 0) {
      nonfinite("model '" + model_name + "': weight '" + p->name + "'", p->value, i, allow);
      return;  // one warning per model is enough
    }
  }
}

void CommonOptions::apply() const {
  if (threads > 0) set_num_threads(threads);
}

void add_common_options(CLI::App* cmd, CommonOptions& o) {
  cmd->add_option("--threads", o.threads, "worker threads (default: $XDNN_NUM_THREADS or all cores)")
      ->check(between(1, 1024));
  cmd->add_flag("--allow-nonfinite", o.allow_nonfinite,
                "proceed, with a warning, when an input or a weight holds NaN or Inf (default: an error)");
}

Model load_checked_model(const std::string& spec, bool allow_nonfinite) {
  Model model = load_model(spec);
  if (is_zoo_name(spec) || is_text_zoo_name(spec))
    std::fprintf(stderr,
                 "xdnn: warning: --model %s is the untrained architecture (random weights); give a checkpoint, "
                 "e.g. --model runs/%s/epoch-2.safetensors\n",
                 spec.c_str(), spec.c_str());
  check_finite_model(model, spec, allow_nonfinite);
  return model;
}

std::string option_type_name(const explain::OptionSpec& spec) {
  const std::string& d = spec.default_value;
  if (!spec.type.empty()) return spec.type;
  if (d.empty()) return "TEXT";
  char* end = nullptr;
  (void)std::strtoll(d.c_str(), &end, 10);
  if (end == d.c_str() + d.size()) return "INT";
  (void)std::strtod(d.c_str(), &end);
  if (end == d.c_str() + d.size()) return "FLOAT";
  return "TEXT";
}

void print_wrote(const std::string& path, const std::string& what) {
  std::printf("wrote %s (%s)\n", path.c_str(), what.c_str());
  std::fflush(stdout);
}

}  // namespace xdnn::cli
