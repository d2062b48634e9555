// Model assertions (Kang, Raghavan, Bailis & Zaharia, "Model assertions for monitoring and improving ML
// models", MLSys 2020): user-written checks over a sliding window of recent inputs and outputs that flag a
// prediction, or correct it (§3: "consistency assertions" and corrective actions).
//
// The rows of a batch are a stream in row order (a video's frames, a sensor's readings). Each sample t has
// its input row x_t (N, ...) → (D) and output row o_t (N, K) → (K); its prediction is argmax o_t (the first
// maximum). Samples are checked in order; at sample t every assertion is checked in the file's order, and
// an assertion with action "correct" that fires replaces the prediction of t, which later assertions and
// later samples then see (so one flicker is corrected once, not flagged again by its neighbour).
//
// The file (JSON): {"assertions": [ {"name": "no-flip", "kind": "consistency", "window": 3,
//   "max_input_distance": 0.05, "action": "correct"}, {"kind": "confidence", "min": 0.6}, ... ]}
// "name" defaults to "<kind>-<position>", "action" to "flag". The kinds (explain/assertions/kinds.cpp):
//   consistency  window W >= 2, max_input_distance d >= 0, distance "linf" (default: every element within d)
//                or "rms" (sqrt of the mean squared difference <= d): the earlier samples among the last
//                W − 1 whose input is within d of x_t must have t's (corrected) prediction. correct: the
//                majority of the model's own predictions for those neighbours and t (a majority filter:
//                ties go to the most recent neighbour's, so a class change is adopted once it holds the
//                majority, and one early class cannot lock the stream).
//   confidence   min in (0, 1], of "softmax" (default) or "output": max_k softmax(o_t)_k (or max_k o_t,k)
//                must be >= min. flag only.
//   transition   allowed [[from, to], ...]: the prediction may move from the previous sample's class only
//                along a listed pair (staying is always allowed). correct: keep the previous class.
//   range        min, max (each optional): every element of o_t is finite and within [min, max]. flag only.
// Every mistake in the file is one Error naming the assertion and the field.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"
#include "explain/choices.h"

namespace xdnn::explain {

struct Assertion {
  std::string name, kind;
  bool correct = false;  // action "correct" (else "flag")
  // The fields of the kinds; each kind reads its own.
  int64_t window = 0;
  double max_input_distance = 0;
  bool rms_distance = false;  // consistency: sqrt(mean (x_u − x_t)²) instead of max |x_u − x_t|
  double min = 0, max = 0;
  bool has_min = false, has_max = false;
  bool of_softmax = true;
  std::vector<std::pair<int64_t, int64_t>> allowed;
};

// What the checks see: the stream so far.
struct AssertionStream {
  const double* inputs = nullptr;   // (N, D) row-major
  const double* outputs = nullptr;  // (N, K) row-major
  int64_t samples = 0, input_size = 0, output_size = 0;
  std::vector<int64_t> predicted;    // (N): the model's own predictions, argmax of the outputs
  std::vector<int64_t> final_class;  // (N): predictions after corrections, filled up to the current sample
  const double* input(int64_t t) const { return inputs + t * input_size; }
  const double* output(int64_t t) const { return outputs + t * output_size; }
};

struct Violation {
  bool fired = false;
  std::string detail;       // one line: why
  int64_t correction = -1;  // the class to use instead, when the kind can correct
};

struct AssertionKind {
  std::string name;
  std::string description;
  std::vector<std::string> fields;  // accepted besides name, kind, action
  bool can_correct = false;
  // Reads and validates the kind's fields from the assertion's JSON object `j` (unknown fields are already
  // refused); `where` starts each message ("assertion 'no-flip' (consistency)").
  std::function<void(const nlohmann::json& j, Assertion& a, const std::string& where)> read;
  // Checks sample t of the stream (stream.final_class[t] is its current prediction).
  std::function<Violation(const Assertion& a, const AssertionStream& stream, int64_t t)> check;
};
ChoiceRegistry<AssertionKind>& assertion_kinds();

// Parses the JSON text of an assertions file; `source` names it in messages.
std::vector<Assertion> parse_assertions(const std::string& text, const std::string& source);

struct AssertionFlag {
  int64_t sample = 0;
  std::string assertion, detail;
  bool corrected = false;
  int64_t from = -1, to = -1;  // the prediction before and after, when corrected
};

struct AssertionReport {
  std::vector<int64_t> predicted, final_class;  // (N) argmax of the outputs, and after corrections
  std::vector<AssertionFlag> flags;             // in sample order, then assertion order
  std::vector<int64_t> flagged, corrected;      // per assertion: how many samples
};

// inputs: (N, ...) any numeric dtype; outputs: (N, ...) float; class-based kinds need outputs (N, K).
AssertionReport run_assertions(const std::vector<Assertion>& assertions, const Tensor& inputs, const Tensor& outputs);

// The report as JSON text: the assertions with their counts, predicted and final classes, the flags.
std::string assertion_report_json(const std::vector<Assertion>& assertions, const AssertionReport& report);

}  // namespace xdnn::explain
