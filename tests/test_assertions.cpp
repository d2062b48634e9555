// Model assertions (explain/assertions/, Kang et al. 2020) on hand-built streams: a flip between
// near-identical inputs is flagged and corrected (and the corrected history is what later samples see),
// confidence floors, allowed class transitions, output range and finiteness, and every file mistake as a
// one-line error naming the assertion and the field.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/error.h"
#include "explain/assertions/assertions.h"

using namespace xdnn;
using namespace xdnn::explain;
using V = std::vector<int64_t>;

namespace {

// Outputs (N, 2) whose argmax is `classes`, with a margin giving softmax confidence ≈ 0.88.
Tensor logits_for(const V& classes) {
  std::vector<float> v;
  for (int64_t c : classes) v.push_back(c == 0 ? 2.0f : 0.0f), v.push_back(c == 1 ? 2.0f : 0.0f);
  return Tensor::from_vector({static_cast<int64_t>(classes.size()), 2}, v);
}

Tensor rows(const std::vector<float>& values) {  // one scalar input feature per sample: (N, 1)
  return Tensor::from_vector({static_cast<int64_t>(values.size()), 1}, values);
}

std::vector<Assertion> parse(const std::string& text) { return parse_assertions(text, "a.json"); }

}  // namespace

TEST_CASE("assertions: a flip between near-identical inputs is flagged; correct replaces it by the neighbours' class") {
  const Tensor x = rows({0.0f, 0.01f, 0.02f, 0.03f, 5.0f});
  const Tensor y = logits_for({0, 0, 1, 0, 1});  // sample 2 flickers; sample 4 is far away
  const std::string flag =
      R"({"assertions":[{"name":"no-flip","kind":"consistency","window":3,"max_input_distance":0.05}]})";
  const AssertionReport f = run_assertions(parse(flag), x, y);
  CHECK(f.predicted == V{0, 0, 1, 0, 1});
  CHECK(f.final_class == f.predicted);  // flag only
  REQUIRE(f.flags.size() == 2);         // sample 2 (against 0, 1) and sample 3 (against the flickering 2)
  CHECK(f.flags[0].sample == 2);
  CHECK(f.flags[0].detail == "class 1 but sample 0 (input within 0.05) has class 0");
  CHECK(f.flags[1].sample == 3);
  CHECK(f.flagged == V{2});

  const std::string fix =
      R"({"assertions":[{"name":"no-flip","kind":"consistency","window":3,"max_input_distance":0.05,"action":"correct"}]})";
  const AssertionReport c = run_assertions(parse(fix), x, y);
  CHECK(c.final_class == V{0, 0, 0, 0, 1});
  REQUIRE(c.flags.size() == 1);  // corrected at 2, so 3 agrees with its history
  CHECK(c.flags[0].corrected);
  CHECK(c.flags[0].from == 1);
  CHECK(c.flags[0].to == 0);
  CHECK(c.corrected == V{1});
  // rms over a (N, 2) input: rows 0 and 1 differ by (0.5, 0.25) → rms √0.15625 = 0.3953, L∞ 0.5.
  const Tensor x2 = Tensor::from_vector({2, 2}, std::vector<float>{0.0f, 0.0f, 0.5f, 0.25f});
  auto flips = [&](const std::string& distance, double d) {
    return run_assertions(parse(R"({"assertions":[{"kind":"consistency","window":2,"max_input_distance":)" +
                                std::to_string(d) + R"(,"distance":")" + distance + R"("}]})"),
                          x2, logits_for({0, 1}))
        .flags.size();
  };
  CHECK(flips("rms", 0.396) == 1);
  CHECK(flips("rms", 0.395) == 0);
  CHECK(flips("linf", 0.5) == 1);
  CHECK(flips("linf", 0.49) == 0);
  // A distance just below the inputs' spacing: no neighbour, nothing flagged.
  CHECK(run_assertions(parse(R"({"assertions":[{"kind":"consistency","window":3,"max_input_distance":0.005}]})"), x, y)
            .flags.empty());
}

TEST_CASE("assertions: consistency correction is a majority filter of the model's predictions, ties to the neighbour") {
  const Tensor x = rows({0, 0, 0, 0});
  // Window 4 at sample 3: neighbours 0, 1, 2 predict 1, 0, 1 → majority 1.
  const AssertionReport r = run_assertions(
      parse(R"({"assertions":[{"kind":"consistency","window":4,"max_input_distance":0,"action":"correct"}]})"), x,
      logits_for({1, 1, 1, 0}));
  CHECK(r.final_class == V{1, 1, 1, 1});
  // Window 2: a 1:1 tie goes to the neighbour, so the first 0 is corrected to 1; at the second 0 the raw
  // votes (0, 0) adopt the change: flagged (its neighbour now reads 1), not changed.
  const AssertionReport t = run_assertions(
      parse(R"({"assertions":[{"kind":"consistency","window":2,"max_input_distance":0,"action":"correct"}]})"),
      rows({0, 0, 0}), logits_for({1, 0, 0}));
  CHECK(t.final_class == V{1, 1, 0});
  CHECK(t.flagged == V{2});
  CHECK(t.corrected == V{1});
  // A majority filter, not a lock: window 3 over 0 0 1 1 1 1 follows the change one sample late.
  const AssertionReport m = run_assertions(
      parse(R"({"assertions":[{"kind":"consistency","window":3,"max_input_distance":0,"action":"correct"}]})"),
      rows({0, 0, 0, 0, 0, 0}), logits_for({0, 0, 1, 1, 1, 1}));
  CHECK(m.final_class == V{0, 0, 0, 1, 1, 1});
}

TEST_CASE("assertions: confidence floor, transitions, output range") {
  // softmax([2, 0]) max = 0.8808; softmax([0.1, 0]) max = 0.5250.
  const Tensor y = Tensor::from_vector({2, 2}, std::vector<float>{2.0f, 0.0f, 0.1f, 0.0f});
  const AssertionReport c =
      run_assertions(parse(R"({"assertions":[{"kind":"confidence","min":0.6}]})"), rows({0, 1}), y);
  REQUIRE(c.flags.size() == 1);
  CHECK(c.flags[0].sample == 1);
  CHECK(c.flags[0].assertion == "confidence-1");
  CHECK(c.flags[0].detail == "softmax confidence 0.524979 < 0.6");
  // The raw top output: 2 passes a floor of 1.5, 0.1 does not.
  const AssertionReport raw =
      run_assertions(parse(R"({"assertions":[{"kind":"confidence","min":1.5,"of":"output"}]})"), rows({0, 1}), y);
  REQUIRE(raw.flags.size() == 1);
  CHECK(raw.flags[0].detail == "top output 0.1 < 1.5");

  // Three classes; allowed 0→1, 1→2: the stream 0 1 2 0 2 breaks at 2→0, and after the correction (0 → 2) the
  // step to the last 2 is a stay.
  std::vector<float> o;
  for (int64_t c3 : {0, 1, 2, 0, 2})
    for (int64_t k = 0; k < 3; ++k) o.push_back(k == c3 ? 1.0f : 0.0f);
  const Tensor y3 = Tensor::from_vector({5, 3}, o);
  const std::string tr =
      R"({"assertions":[{"name":"order","kind":"transition","allowed":[[0,1],[1,2]],"action":"correct"}]})";
  const AssertionReport t = run_assertions(parse(tr), rows({0, 1, 2, 3, 4}), y3);
  CHECK(t.predicted == V{0, 1, 2, 0, 2});
  CHECK(t.final_class == V{0, 1, 2, 2, 2});
  REQUIRE(t.flags.size() == 1);
  CHECK(t.flags[0].detail == "class 2 -> 0 is not an allowed transition");
  CHECK_THROWS_WITH(run_assertions(parse(R"({"assertions":[{"name":"order","kind":"transition","allowed":[[0,3]]}]})"),
                                   rows({0}), Tensor::from_vector({1, 3}, std::vector<float>{1, 0, 0})),
                    "assertion 'order' (transition): field 'allowed' names class 3, but the model has 3 classes");

  const Tensor bad = Tensor::from_vector({3, 2}, std::vector<float>{0.5f, 0.5f, NAN, 0.0f, 0.0f, 2.0f});
  const AssertionReport r =
      run_assertions(parse(R"({"assertions":[{"kind":"range","min":0,"max":1}]})"), rows({0, 1, 2}), bad);
  REQUIRE(r.flags.size() == 2);
  CHECK(r.flags[0].detail == "output element 0 is nan");
  CHECK(r.flags[1].detail == "output element 1 is 2");
  CHECK(run_assertions(parse(R"({"assertions":[{"kind":"range"}]})"), rows({0, 1, 2}), bad).flagged == V{1});
}

TEST_CASE("assertions: several in order; the report as JSON") {
  const std::string two = R"({"assertions":[
      {"name":"no-flip","kind":"consistency","window":2,"max_input_distance":1,"action":"correct"},
      {"name":"sure","kind":"confidence","min":0.99}]})";
  const std::vector<Assertion> a = parse(two);
  const AssertionReport r = run_assertions(a, rows({0, 0}), logits_for({0, 1}));
  CHECK(r.flagged == V{1, 2});
  CHECK(r.corrected == V{1, 0});
  const std::string json = assertion_report_json(a, r);
  CHECK(json.find(R"("final": [)") != std::string::npos);
  CHECK(json.find(R"("name": "no-flip")") != std::string::npos);
}

TEST_CASE("assertions: mistakes in the file are one-line errors naming the assertion and the field") {
  CHECK_THROWS_WITH(parse(R"({"assertions":[{"name":"x","kind":"flicker"}]})"),
                    "a.json: assertion 'x': unknown kind 'flicker'");
  CHECK_THROWS_WITH(parse(R"({"assertions":[{"name":"nf","kind":"consistency","window":0,"max_input_distance":0.1}]})"),
                    "a.json: assertion 'nf' (consistency): field 'window' must be an integer >= 2, got 0");
  CHECK_THROWS_WITH(
      parse(R"({"assertions":[{"name":"nf","kind":"consistency","window":2.5,"max_input_distance":0.1}]})"),
      "a.json: assertion 'nf' (consistency): field 'window' must be an integer >= 2, got 2.5");
  CHECK_THROWS_WITH(
      parse(
          R"({"assertions":[{"name":"nf","kind":"consistency","window":2,"max_input_distance":0.1,"distance":"l2"}]})"),
      "a.json: assertion 'nf' (consistency): field 'distance' must be \"linf\" or \"rms\", got \"l2\"");
  CHECK_THROWS_WITH(parse(R"({"assertions":[{"kind":"consistency","max_input_distance":0.1}]})"),
                    "a.json: assertion 'consistency-1' (consistency): missing field 'window'");
  CHECK_THROWS_WITH(parse(R"({"assertions":[{"kind":"confidence","min":0.5,"window":3}]})"),
                    "a.json: assertion 'confidence-1' (confidence): unknown field 'window'");
  CHECK_THROWS_WITH(
      parse(R"({"assertions":[{"kind":"confidence","min":0.5,"action":"correct"}]})"),
      "a.json: assertion 'confidence-1' (confidence): field 'action': this kind can only flag, not correct");
  CHECK_THROWS_WITH(
      parse(R"({"assertions":[{"kind":"confidence","min":0.5,"action":"drop"}]})"),
      "a.json: assertion 'confidence-1' (confidence): field 'action' must be \"flag\" or \"correct\", got \"drop\"");
  CHECK_THROWS_WITH(parse(R"({"assertions":[{"kind":"confidence","min":1.5}]})"),
                    "a.json: assertion 'confidence-1' (confidence): field 'min' must be in (0, 1] for softmax "
                    "probabilities, got 1.5");
  CHECK_THROWS_WITH(parse(R"({"assertions":[{"kind":"range","min":2,"max":1}]})"),
                    "a.json: assertion 'range-1' (range): field 'min' (2) is above field 'max' (1)");
  CHECK_THROWS_WITH(parse(R"({"assertions":[{"kind":"transition","allowed":[[0]]}]})"),
                    "a.json: assertion 'transition-1' (transition): field 'allowed' must hold [from, to] pairs of "
                    "class indices >= 0, got [0]");
  CHECK_THROWS_WITH(parse(R"({"assertions":[{"name":"a","kind":"range"},{"name":"a","kind":"range"}]})"),
                    "a.json: assertion 'a' (range): a second assertion with this name");
  CHECK_THROWS_WITH(parse(R"({"assertions":[]})"), "a.json: the list of assertions is empty");
  CHECK_THROWS_WITH(parse(R"({"checks":[]})"), "a.json: expected an object {\"assertions\": [...]}");
  CHECK_THROWS_WITH(parse("{"), doctest::Contains("a.json: not valid JSON"));
  // Run-time: class-based kinds need (N, K) outputs; inputs and outputs must agree on N.
  const std::vector<Assertion> conf = parse(R"({"assertions":[{"name":"c","kind":"confidence","min":0.5}]})");
  CHECK_THROWS_WITH(run_assertions(conf, rows({0, 1}), Tensor::from_vector({2, 1, 1}, std::vector<float>{0, 1})),
                    doctest::Contains("assertion 'c' (confidence) needs outputs (N, K) of class scores"));
  CHECK_THROWS_WITH(run_assertions(conf, rows({0}), logits_for({0, 1})), doctest::Contains("do not match the outputs"));
}
