// RNN to automata (explain/global/automaton.h, spectral_wfa.h, automaton_study.h) by defining properties:
// spectral learning recovers a function computed by a small weighted automaton exactly (the trigger
// task's known 2-state automaton, and a random 3-state one); on a tiny trigger task a trained LSTM yields a
// k-means machine that classifies held-out sequences like the network (fidelity ≥ 0.9) and a WFA that
// follows the network and the known automaton; a model without recurrence, or a bidirectional one, is a
// one-line error.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/random.h"
#include "explain/global/automaton_study.h"
#include "models/train/train.h"
#include "models/zoo.h"

using namespace xdnn;
using namespace xdnn::explain;

namespace {

// The trigger task by hand (as test_text_train.cpp): V = 10, 0 = padding, 1..6 fillers, 7/8/9 the triggers
// of classes 0/1/2, T = 8, lengths 3..8, exactly one trigger.
constexpr int64_t kVocab = 10, kMaxLen = 8, kClasses = 3;

LabeledData tiny_trigger(int64_t n, uint64_t seed) {
  Rng rng(seed);
  LabeledData d{Tensor({n, kMaxLen}, DType::I64), Tensor({n}, DType::I64)};
  int64_t* x = d.x.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = static_cast<int64_t>(rng.below(kClasses));
    const int64_t len = 3 + static_cast<int64_t>(rng.below(kMaxLen - 2));
    const int64_t at = static_cast<int64_t>(rng.below(static_cast<uint64_t>(len)));
    for (int64_t t = 0; t < kMaxLen; ++t)
      x[i * kMaxLen + t] = t >= len ? 0 : t == at ? 7 + k : 1 + static_cast<int64_t>(rng.below(6));
    d.y.data<int64_t>()[i] = k;
  }
  return d;
}

const std::vector<std::string> kWords = {"<pad>",   "fillera", "fillerb",  "fillerc",  "fillerd",
                                         "fillere", "fillerf", "triggera", "triggerb", "triggerc"};

TextModelConfig tiny_config(bool bidirectional = false) {
  TextModelConfig c;
  c.vocab_size = kVocab;
  c.num_classes = kClasses;
  c.max_len = kMaxLen;
  c.embed_dim = 8;
  c.hidden_size = 8;
  c.bidirectional = bidirectional;
  return c;
}

Model trained_lstm() {
  Model m = build_text_model("text-lstm", tiny_config(), 3);
  TrainConfig cfg;
  cfg.architecture = "text-lstm";
  cfg.epochs = 12;
  cfg.seed = 3;
  cfg.optimizer.lr = 0.02;
  cfg.batch_size = 16;
  cfg.progress = false;
  train_model(m, tiny_trigger(160, 1), tiny_trigger(40, 2), cfg);
  return m;
}

}  // namespace

TEST_CASE("spectral WFA: recovers the known 2-state trigger automaton and a random 3-state WFA exactly") {
  // f*(w) = 1 iff w holds symbol 0 (trigger c; symbols 1, 2 are fillers).
  const WordFunction known = [](const std::vector<Word>& words) {
    std::vector<double> v;
    for (const Word& w : words) v.push_back(std::find(w.begin(), w.end(), 0) != w.end() ? 1.0 : 0.0);
    return v;
  };
  const Wfa a = spectral_wfa(known, 3, 2, 0);
  CHECK(a.states == 2);  // the numerical rank of its Hankel matrix: the known automaton's state count
  for (const Word& w : all_words(3, 7)) CHECK(std::abs(a.value(w) - known({w})[0]) < 1e-9);

  // A random WFA with 3 states over 2 symbols (weights ~ N(0, 0.5²)).
  Rng rng(21);
  Wfa truth;
  truth.states = 3;
  truth.symbols = 2;
  for (int i = 0; i < 3; ++i) truth.alpha0.push_back(rng.normal());
  for (int i = 0; i < 3; ++i) truth.alpha_inf.push_back(rng.normal());
  for (int i = 0; i < 18; ++i) truth.transitions.push_back(0.5 * rng.normal());
  const WordFunction f = [&](const std::vector<Word>& words) {
    std::vector<double> v;
    for (const Word& w : words) v.push_back(truth.value(w));
    return v;
  };
  const Wfa b = spectral_wfa(f, 2, 2, 0);
  CHECK(b.states == 3);
  for (const Word& w : all_words(2, 8)) CHECK(std::abs(b.value(w) - truth.value(w)) < 1e-8);
  // Rank 1 cannot hold it: the check above can fail.
  const Wfa c = spectral_wfa(f, 2, 2, 1);
  double worst = 0.0;
  for (const Word& w : all_words(2, 4)) worst = std::max(worst, std::abs(c.value(w) - truth.value(w)));
  CHECK(worst > 1e-3);
}

TEST_CASE("automaton: on the trigger task the extracted machine classifies like the LSTM") {
  const Model net = trained_lstm();
  const LabeledData fit = tiny_trigger(120, 5), held = tiny_trigger(120, 6);
  AutomatonStudyOptions o;
  o.kmeans.clusters = 8;
  const AutomatonStudy s = automaton_study(net, fit.x, held.x, held.y, kWords, {"a", "b", "c"}, o);
  MESSAGE(automaton_study_text(s));
  CHECK(s.layer == "lstm");
  CHECK(s.fsm.machine.num_states == 9);
  CHECK(s.fsm.fidelity >= 0.9);  // the bound this test states
  CHECK(s.fsm.fidelity_fit >= 0.9);
  REQUIRE(s.has_wfa);
  CHECK(s.wfa.wfa.states == 2);
  CHECK(s.wfa.agreement_known >= 0.95);
  CHECK(s.wfa.mean_abs_error < 0.1);
  // The table names the triggers; fillers that move alike share a column.
  bool trigger_column = false;
  for (const std::string& h : s.table.header) trigger_column = trigger_column || h.rfind("trigger", 0) == 0;
  CHECK(trigger_column);
  // Deterministic: the same seed gives the same machine.
  const AutomatonStudy again = automaton_study(net, fit.x, held.x, held.y, kWords, {}, o);
  CHECK(again.fsm.machine.next == s.fsm.machine.next);
}

TEST_CASE("automaton: a model without recurrence, or a bidirectional one, is a one-line error") {
  const LabeledData d = tiny_trigger(8, 1);
  TextModelConfig c = tiny_config();
  c.hidden_size = 16;
  const Model transformer = build_text_model("text-transformer", c, 1);
  CHECK_THROWS_WITH_AS(recurrent_states(transformer, d.x), doctest::Contains("has no recurrent layer"), Error);
  const Model bi = build_text_model("text-lstm", tiny_config(true), 1);
  CHECK_THROWS_WITH_AS(recurrent_states(bi, d.x), doctest::Contains("bidirectional"), Error);
  const Model lstm = build_text_model("text-lstm", tiny_config(), 1);
  CHECK_THROWS_WITH_AS(recurrent_states(lstm, Tensor::zeros({2, 3}, DType::F32)), doctest::Contains("int64 token ids"),
                       Error);
}
