// The assertion kinds: one registry entry each, with its fields and its check. Semantics: assertions.h.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "explain/assertions/assertions.h"

namespace xdnn::explain {

namespace {

using nlohmann::json;

double number_field(const json& j, const char* field, const std::string& where) {
  const json& v = j.at(field);
  if (!v.is_number() || !std::isfinite(v.get<double>()))
    throw Error(where + ": field '" + field + "' must be a finite number, got " + v.dump());
  return v.get<double>();
}

int64_t integer_field(const json& j, const char* field, const std::string& where, int64_t min) {
  const json& v = j.at(field);
  if (!v.is_number_integer() || v.get<int64_t>() < min)
    throw Error(where + ": field '" + field + "' must be an integer >= " + std::to_string(min) + ", got " + v.dump());
  return v.get<int64_t>();
}

void require(const json& j, const char* field, const std::string& where) {
  if (!j.contains(field)) throw Error(where + ": missing field '" + field + "'");
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// --- consistency: near-identical recent inputs must share the prediction ------------------------------
void read_consistency(const json& j, Assertion& a, const std::string& where) {
  require(j, "window", where);
  require(j, "max_input_distance", where);
  a.window = integer_field(j, "window", where, 2);
  if (a.window > 100000) throw Error(where + ": field 'window' must be <= 100000, got " + std::to_string(a.window));
  a.max_input_distance = number_field(j, "max_input_distance", where);
  if (a.max_input_distance < 0) throw Error(where + ": field 'max_input_distance' must be >= 0");
  if (j.contains("distance")) {
    const json& d = j.at("distance");
    if (!d.is_string() || (d != "linf" && d != "rms"))
      throw Error(where + ": field 'distance' must be \"linf\" or \"rms\", got " + d.dump());
    a.rms_distance = d == "rms";
  }
}

Violation check_consistency(const Assertion& a, const AssertionStream& s, int64_t t) {
  const int64_t mine = s.final_class[static_cast<size_t>(t)];
  // Votes of the model's own predictions (not the corrected ones, so that one early class cannot lock the
  // stream): the near neighbours' and t's. A class change is adopted once it holds the window's majority.
  std::map<int64_t, int64_t> votes{{s.predicted[static_cast<size_t>(t)], 1}};
  int64_t disagree = -1, latest = -1;
  for (int64_t u = std::max<int64_t>(0, t - a.window + 1); u < t; ++u) {
    double dist = 0;
    for (int64_t i = 0; i < s.input_size; ++i) {
      const double e = s.input(u)[i] - s.input(t)[i];
      dist = a.rms_distance ? dist + e * e : std::max(dist, std::fabs(e));
    }
    if (a.rms_distance) dist = std::sqrt(dist / static_cast<double>(std::max<int64_t>(s.input_size, 1)));
    if (!(dist <= a.max_input_distance)) continue;
    votes[s.predicted[static_cast<size_t>(u)]]++;
    latest = u;
    if (s.final_class[static_cast<size_t>(u)] != mine && disagree < 0) disagree = u;
  }
  Violation v;
  if (disagree < 0) return v;
  v.fired = true;
  v.detail = "class " + std::to_string(mine) + " but sample " + std::to_string(disagree) + " (input within " +
             fmt(a.max_input_distance) + (a.rms_distance ? " rms" : "") + ") has class " +
             std::to_string(s.final_class[static_cast<size_t>(disagree)]);
  // The majority; a tie goes to the most recent neighbour's prediction (a change must win a majority).
  int64_t best = s.predicted[static_cast<size_t>(latest)];
  for (const auto& [c, n] : votes)
    if (n > votes[best]) best = c;
  v.correction = best;
  return v;
}

// --- confidence: the winning probability must reach a floor --------------------------------------------
void read_confidence(const json& j, Assertion& a, const std::string& where) {
  require(j, "min", where);
  a.min = number_field(j, "min", where);
  a.has_min = true;
  if (j.contains("of")) {
    const json& of = j.at("of");
    if (!of.is_string() || (of != "softmax" && of != "output"))
      throw Error(where + ": field 'of' must be \"softmax\" or \"output\", got " + of.dump());
    a.of_softmax = of == "softmax";
  }
  if (a.of_softmax && !(a.min > 0 && a.min <= 1))
    throw Error(where + ": field 'min' must be in (0, 1] for softmax probabilities, got " + fmt(a.min));
}

Violation check_confidence(const Assertion& a, const AssertionStream& s, int64_t t) {
  const double* o = s.output(t);
  const double top = *std::max_element(o, o + s.output_size);
  double conf = top;
  if (a.of_softmax) {
    double z = 0;
    for (int64_t k = 0; k < s.output_size; ++k) z += std::exp(o[k] - top);
    conf = 1.0 / z;  // softmax of the maximum
  }
  Violation v;
  if (conf >= a.min) return v;
  v.fired = true;
  v.detail = std::string(a.of_softmax ? "softmax confidence " : "top output ") + fmt(conf) + " < " + fmt(a.min);
  return v;
}

// --- transition: only listed class changes between consecutive samples -------------------------------
void read_transition(const json& j, Assertion& a, const std::string& where) {
  require(j, "allowed", where);
  const json& al = j.at("allowed");
  if (!al.is_array()) throw Error(where + ": field 'allowed' must be a list of [from, to] class pairs");
  for (const json& p : al) {
    if (!p.is_array() || p.size() != 2 || !p[0].is_number_integer() || !p[1].is_number_integer() ||
        p[0].get<int64_t>() < 0 || p[1].get<int64_t>() < 0)
      throw Error(where + ": field 'allowed' must hold [from, to] pairs of class indices >= 0, got " + p.dump());
    a.allowed.emplace_back(p[0].get<int64_t>(), p[1].get<int64_t>());
  }
}

Violation check_transition(const Assertion& a, const AssertionStream& s, int64_t t) {
  Violation v;
  if (t == 0) return v;
  const int64_t from = s.final_class[static_cast<size_t>(t - 1)], to = s.final_class[static_cast<size_t>(t)];
  if (from == to || std::find(a.allowed.begin(), a.allowed.end(), std::make_pair(from, to)) != a.allowed.end())
    return v;
  v.fired = true;
  v.detail = "class " + std::to_string(from) + " -> " + std::to_string(to) + " is not an allowed transition";
  v.correction = from;
  return v;
}

// --- range: outputs finite and within bounds -----------------------------------------------------------
void read_range(const json& j, Assertion& a, const std::string& where) {
  if (j.contains("min")) a.min = number_field(j, "min", where), a.has_min = true;
  if (j.contains("max")) a.max = number_field(j, "max", where), a.has_max = true;
  if (a.has_min && a.has_max && a.min > a.max)
    throw Error(where + ": field 'min' (" + fmt(a.min) + ") is above field 'max' (" + fmt(a.max) + ")");
}

Violation check_range(const Assertion& a, const AssertionStream& s, int64_t t) {
  Violation v;
  const double* o = s.output(t);
  for (int64_t k = 0; k < s.output_size; ++k) {
    const bool bad = !std::isfinite(o[k]) || (a.has_min && o[k] < a.min) || (a.has_max && o[k] > a.max);
    if (!bad) continue;
    v.fired = true;
    v.detail = "output element " + std::to_string(k) + " is " + fmt(o[k]);
    return v;
  }
  return v;
}

}  // namespace

ChoiceRegistry<AssertionKind>& assertion_kinds() {
  static ChoiceRegistry<AssertionKind> registry(
      "assertion kind",
      {
          {"consistency",
           "near-identical recent inputs (L-inf or rms distance within max_input_distance) keep the prediction",
           {"window", "max_input_distance", "distance"},
           true,
           read_consistency,
           check_consistency},
          {"confidence",
           "the top softmax probability (or output) is at least min",
           {"min", "of"},
           false,
           read_confidence,
           check_confidence},
          {"transition",
           "the class changes between consecutive samples only along allowed pairs",
           {"allowed"},
           true,
           read_transition,
           check_transition},
          {"range",
           "every output element is finite and within [min, max]",
           {"min", "max"},
           false,
           read_range,
           check_range},
      });
  return registry;
}

}  // namespace xdnn::explain
