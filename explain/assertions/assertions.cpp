// Parsing an assertions file, running the assertions over a stream, and the report. See assertions.h.
#include "explain/assertions/assertions.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/check.h"

namespace xdnn::explain {

namespace {

using nlohmann::json;

std::vector<double> as_doubles(const Tensor& t) {
  const Tensor d = t.to(DType::F64);
  return std::vector<double>(d.data<double>(), d.data<double>() + d.numel());
}

}  // namespace

std::vector<Assertion> parse_assertions(const std::string& text, const std::string& source) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(source + ": not valid JSON (" + std::string(e.what()) + ")");
  }
  if (!doc.is_object() || !doc.contains("assertions") || !doc["assertions"].is_array())
    throw Error(source + ": expected an object {\"assertions\": [...]}");
  for (const auto& [key, value] : doc.items())
    if (key != "assertions") throw Error(source + ": unknown top-level field '" + key + "'");
  check(!doc["assertions"].empty(), source + ": the list of assertions is empty");
  std::vector<Assertion> out;
  std::set<std::string> names;
  int position = 0;
  for (const json& j : doc["assertions"]) {
    ++position;
    const std::string at = source + ": assertion #" + std::to_string(position);
    if (!j.is_object()) throw Error(at + " is not an object");
    if (!j.contains("kind") || !j["kind"].is_string()) throw Error(at + ": missing field 'kind' (a string)");
    Assertion a;
    a.kind = j["kind"].get<std::string>();
    if (j.contains("name")) {
      if (!j["name"].is_string() || j["name"].get<std::string>().empty())
        throw Error(at + ": field 'name' must be a non-empty string");
      a.name = j["name"].get<std::string>();
    } else {
      a.name = a.kind + "-" + std::to_string(position);
    }
    const std::string where = source + ": assertion '" + a.name + "' (" + a.kind + ")";
    if (!assertion_kinds().contains(a.kind))
      throw Error(source + ": assertion '" + a.name + "': unknown kind '" + a.kind + "'",
                  "valid kinds: " + assertion_kinds().names(", "));
    const AssertionKind& kind = assertion_kinds().find(a.kind);
    if (!names.insert(a.name).second) throw Error(where + ": a second assertion with this name");
    for (const auto& [key, value] : j.items()) {
      if (key == "name" || key == "kind" || key == "action") continue;
      if (std::find(kind.fields.begin(), kind.fields.end(), key) == kind.fields.end()) {
        std::string fields;
        for (const std::string& f : kind.fields) fields += ", " + f;
        throw Error(where + ": unknown field '" + key + "'", "its fields: name, kind, action" + fields);
      }
    }
    if (j.contains("action")) {
      const json& act = j["action"];
      if (!act.is_string() || (act != "flag" && act != "correct"))
        throw Error(where + ": field 'action' must be \"flag\" or \"correct\", got " + act.dump());
      a.correct = act == "correct";
      if (a.correct && !kind.can_correct) throw Error(where + ": field 'action': this kind can only flag, not correct");
    }
    kind.read(j, a, where);
    out.push_back(std::move(a));
  }
  return out;
}

AssertionReport run_assertions(const std::vector<Assertion>& assertions, const Tensor& inputs, const Tensor& outputs) {
  check(outputs.defined() && outputs.ndim() >= 1 && outputs.is_float(),
        "assertions: expected float outputs (N, ...), got " + (outputs.defined() ? outputs.describe() : "nothing"));
  check(inputs.defined() && inputs.ndim() >= 1 && inputs.dim(0) == outputs.dim(0),
        "assertions: inputs " + (inputs.defined() ? inputs.describe() : std::string("(none)")) +
            " do not match the outputs " + outputs.describe() + " in their first (sample) axis");
  const int64_t n = outputs.dim(0);
  const std::vector<double> in = as_doubles(inputs), out = as_doubles(outputs);
  AssertionStream s;
  s.inputs = in.data();
  s.outputs = out.data();
  s.samples = n;
  s.input_size = n > 0 ? inputs.numel() / n : 0;
  s.output_size = n > 0 ? outputs.numel() / n : 0;
  for (const Assertion& a : assertions) {
    if (a.kind != "range")  // every other kind reads classes: one score per class
      check(outputs.ndim() == 2 && s.output_size >= 1, "assertion '" + a.name + "' (" + a.kind +
                                                           ") needs outputs (N, K) of class scores, got " +
                                                           outputs.describe());
    for (const auto& [from, to] : a.allowed)
      if (from >= s.output_size || to >= s.output_size)
        throw Error("assertion '" + a.name + "' (" + a.kind + "): field 'allowed' names class " +
                    std::to_string(std::max(from, to)) + ", but the model has " + std::to_string(s.output_size) +
                    " classes");
  }

  AssertionReport r;
  r.flagged.assign(assertions.size(), 0);
  r.corrected.assign(assertions.size(), 0);
  for (int64_t t = 0; t < n; ++t) {  // the prediction: first maximum
    const double* o = s.output(t);
    r.predicted.push_back(s.output_size > 0 ? std::max_element(o, o + s.output_size) - o : 0);
  }
  s.predicted = r.predicted;
  s.final_class = r.predicted;
  for (int64_t t = 0; t < n; ++t) {
    for (size_t i = 0; i < assertions.size(); ++i) {
      const Assertion& a = assertions[i];
      const Violation v = assertion_kinds().find(a.kind).check(a, s, t);
      if (!v.fired) continue;
      AssertionFlag f{t, a.name, v.detail, false, -1, -1};
      r.flagged[i]++;
      int64_t& cls = s.final_class[static_cast<size_t>(t)];
      if (a.correct && v.correction >= 0 && v.correction != cls) {
        f.corrected = true;
        f.from = cls;
        f.to = v.correction;
        cls = v.correction;
        r.corrected[i]++;
      }
      r.flags.push_back(f);
    }
  }
  r.final_class = s.final_class;
  return r;
}

std::string assertion_report_json(const std::vector<Assertion>& assertions, const AssertionReport& report) {
  json list = json::array();
  for (size_t i = 0; i < assertions.size(); ++i)
    list.push_back({{"name", assertions[i].name},
                    {"kind", assertions[i].kind},
                    {"action", assertions[i].correct ? "correct" : "flag"},
                    {"flagged", report.flagged[i]},
                    {"corrected", report.corrected[i]}});
  json flags = json::array();
  for (const AssertionFlag& f : report.flags) {
    json j = {{"sample", f.sample}, {"assertion", f.assertion}, {"detail", f.detail}, {"corrected", f.corrected}};
    if (f.corrected) j["from"] = f.from, j["to"] = f.to;
    flags.push_back(j);
  }
  const json doc = {{"samples", report.predicted.size()},
                    {"assertions", list},
                    {"predicted", report.predicted},
                    {"final", report.final_class},
                    {"flags", flags}};
  return doc.dump(1) + "\n";
}

}  // namespace xdnn::explain
