// The automaton study and its global report section: see automaton_study.h.
#include "explain/global/automaton_study.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/error.h"
#include "explain/global/section.h"
#include "explain/html.h"
#include "models/io/trigger_task.h"

namespace xdnn::explain {

namespace {

int64_t find_token(const std::vector<std::string>& vocabulary, const std::string& word) {
  const auto it = std::find(vocabulary.begin(), vocabulary.end(), word);
  return it == vocabulary.end() ? -1 : it - vocabulary.begin();
}

std::string fixed(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", v);
  return b;
}

WfaCheck trigger_wfa(const Model& model, int64_t trigger, int64_t filler_a, int64_t filler_b,
                     const std::vector<std::string>& vocabulary, const AutomatonStudyOptions& o) {
  WfaCheck c;
  c.symbols = {vocabulary[trigger], vocabulary[filler_a], vocabulary[filler_b]};
  const WordFunction f = class_probability_function(model, {trigger, filler_a, filler_b}, {filler_a}, o.wfa_class);
  c.wfa = spectral_wfa(f, 3, o.wfa_basis, o.wfa_rank);
  std::vector<Word> words = all_words(3, o.wfa_test_length);
  words.erase(words.begin());  // ε: the known automaton's start, not a sequence
  const std::vector<double> net = f(words);
  int64_t agree = 0, net_agree = 0;
  for (size_t i = 0; i < words.size(); ++i) {
    const bool known = std::find(words[i].begin(), words[i].end(), 0) != words[i].end();
    const double w = c.wfa.value(words[i]);
    const double err = std::abs(w - net[i]);
    c.mean_abs_error += err / static_cast<double>(words.size());
    c.max_abs_error = std::max(c.max_abs_error, err);
    agree += (w > 0.5) == known;
    net_agree += (net[i] > 0.5) == known;
  }
  c.words = static_cast<int64_t>(words.size());
  c.max_length = o.wfa_test_length;
  c.agreement_known = static_cast<double>(agree) / static_cast<double>(words.size());
  c.network_agreement_known = static_cast<double>(net_agree) / static_cast<double>(words.size());
  return c;
}

}  // namespace

WordFunction class_probability_function(const Model& model, const std::vector<int64_t>& symbol_tokens,
                                        const std::vector<int64_t>& lead_tokens, int64_t cls) {
  return [&model, symbol_tokens, lead_tokens, cls](const std::vector<Word>& words) {
    size_t T = 1;
    for (const Word& w : words) T = std::max(T, lead_tokens.size() + w.size());
    std::vector<double> out;
    for (size_t b = 0; b < words.size(); b += 1024) {
      const size_t e = std::min(words.size(), b + 1024);
      std::vector<int64_t> ids;
      for (size_t i = b; i < e; ++i) {
        std::vector<int64_t> row = lead_tokens;
        for (int64_t s : words[i]) row.push_back(symbol_tokens.at(static_cast<size_t>(s)));
        if (row.empty()) throw Error("automaton: the network cannot read an empty sequence (no lead token)");
        row.resize(T, 0);
        ids.insert(ids.end(), row.begin(), row.end());
      }
      const Tensor logits =
          model.predict(Tensor::from_vector({static_cast<int64_t>(e - b), static_cast<int64_t>(T)}, ids))
              .to(DType::F64);
      const int64_t K = logits.dim(1);
      if (cls < 0 || cls >= K)
        throw Error("automaton: class " + std::to_string(cls) + " out of range 0.." + std::to_string(K - 1));
      for (int64_t i = 0; i < logits.dim(0); ++i) {
        const double* z = logits.data<double>() + i * K;
        const double m = *std::max_element(z, z + K);
        double s = 0.0;
        for (int64_t k = 0; k < K; ++k) s += std::exp(z[k] - m);
        out.push_back(std::exp(z[cls] - m) / s);
      }
    }
    return out;
  };
}

AutomatonStudy automaton_study(const Model& model, const Tensor& fit_ids, const Tensor& held_ids,
                               const Tensor& held_labels, const std::vector<std::string>& vocabulary,
                               const std::vector<std::string>& class_names, const AutomatonStudyOptions& o) {
  AutomatonStudy s;
  const RecurrentStates fit = recurrent_states(model, fit_ids);  // a non-recurrent model fails here
  const RecurrentStates held = recurrent_states(model, held_ids);
  s.layer = fit.layer;
  s.fsm = extract_automaton(fit_ids, fit, held_ids, held, o.kmeans);
  s.table = transition_table(s.fsm.machine, vocabulary, class_names);
  if (held_labels.defined()) {
    const Tensor y = held_labels.to(DType::I64);
    if (y.numel() != held_ids.dim(0))
      throw Error("automaton: " + std::to_string(y.numel()) + " labels for " + std::to_string(held_ids.dim(0)) +
                  " sequences");
    int64_t right = 0;
    for (int64_t n = 0; n < held_ids.dim(0); ++n)
      right += s.fsm.machine.classify(held_ids.data<int64_t>() + n * held_ids.dim(1), held.lengths[n]) ==
               y.data<int64_t>()[n];
    s.fsm_accuracy = static_cast<double>(right) / static_cast<double>(held_ids.dim(0));
  }
  const int64_t trigger = find_token(vocabulary, "trigger" + text::letters_name(o.wfa_class));
  const int64_t filler_a = find_token(vocabulary, "fillera"), filler_b = find_token(vocabulary, "fillerb");
  if (trigger < 0 || filler_a < 0 || filler_b < 0) {
    s.wfa_note = "no trigger-task vocabulary (trigger" + text::letters_name(o.wfa_class) +
                 ", fillera, fillerb): the spectral WFA is compared with the trigger task's known automaton only";
    return s;
  }
  s.wfa = trigger_wfa(model, trigger, filler_a, filler_b, vocabulary, o);
  s.has_wfa = true;
  return s;
}

std::string automaton_study_text(const AutomatonStudy& s) {
  const AutomatonResult& r = s.fsm;
  std::string t = "recurrent layer '" + s.layer + "': " + std::to_string(r.machine.num_states - 1) +
                  " k-means states + start, fitted on " + std::to_string(r.fit_sequences) + " sequences\n";
  t += "fidelity to the network: " + fixed(r.fidelity) + " on " + std::to_string(r.held_out_sequences) +
       " held-out sequences (" + fixed(r.fidelity_fit) + " on the fitted ones; state outputs match " +
       fixed(r.state_agreement) +
       " of the prefixes); unseen transitions read: " + std::to_string(r.unseen_transitions) + "\n";
  if (s.fsm_accuracy >= 0) t += "accuracy against the labels (held out): " + fixed(s.fsm_accuracy) + "\n";
  t += "\ntransition table (tokens that move alike share a column):\n" + format_table(s.table);
  if (!s.has_wfa) return t + "\n" + s.wfa_note + "\n";
  const WfaCheck& w = s.wfa;
  t += "\nspectral WFA of P(class) over {" + w.symbols[0] + ", " + w.symbols[1] + ", " + w.symbols[2] +
       "}: " + std::to_string(w.wfa.states) + " states; Hankel singular values";
  for (size_t i = 0; i < std::min<size_t>(4, w.wfa.singular_values.size()); ++i) {
    t += ' ';
    t += fixed(w.wfa.singular_values[i]);
  }
  t += "\non all " + std::to_string(w.words) + " words of length 1.." + std::to_string(w.max_length) +
       ": |WFA - network| mean " + fixed(w.mean_abs_error) + ", max " + fixed(w.max_abs_error) +
       "; agreement with the known 2-state automaton: WFA " + fixed(w.agreement_known) + ", network " +
       fixed(w.network_agreement_known) + "\n";
  return t;
}

namespace {

std::string render_automaton(const GlobalContext& ctx) {
  if (!ctx.data.defined() || ctx.data.dtype() != DType::I64 || ctx.data.ndim() != 2 || ctx.data.dim(0) < 4)
    throw Error("global section 'automaton' needs token sequences (int64 (N, T), N ≥ 4) as the report's input");
  const int64_t N = ctx.data.dim(0), fit_n = N - std::max<int64_t>(1, N * 3 / 10);
  AutomatonStudyOptions o;
  o.kmeans.clusters = ctx.options.get_int("clusters", 8);
  o.kmeans.seed = static_cast<uint64_t>(ctx.options.get_int("seed", 0));
  o.wfa_class = ctx.options.get_int("wfa-class", 0);
  o.wfa_rank = ctx.options.get_int("wfa-rank", 2);
  Tensor held_labels;
  if (ctx.labels.defined()) held_labels = ctx.labels.to(DType::I64).slice_batch(fit_n, N);
  const AutomatonStudy s = automaton_study(*ctx.model, ctx.data.slice_batch(0, fit_n), ctx.data.slice_batch(fit_n, N),
                                           held_labels, ctx.vocabulary, ctx.class_names, o);
  std::string html = "<p>First " + std::to_string(fit_n) + " sequences fit the machine, the last " +
                     std::to_string(N - fit_n) + " score it.</p>";
  html += html_table({"machine", "states", "fidelity (held out)", "fidelity (fitted)", "accuracy (held out)"},
                     {{"k-means FSM", std::to_string(s.fsm.machine.num_states), fixed(s.fsm.fidelity),
                       fixed(s.fsm.fidelity_fit), s.fsm_accuracy < 0 ? "-" : fixed(s.fsm_accuracy)}});
  html += html_table(s.table.header, s.table.rows);
  if (s.has_wfa) {
    html +=
        html_table({"spectral WFA", "states", "words compared", "mean |WFA - net|", "max |WFA - net|",
                    "agrees with known automaton", "network agrees"},
                   {{s.wfa.symbols[0] + ", " + s.wfa.symbols[1] + ", " + s.wfa.symbols[2],
                     std::to_string(s.wfa.wfa.states), std::to_string(s.wfa.words), fixed(s.wfa.mean_abs_error),
                     fixed(s.wfa.max_abs_error), fixed(s.wfa.agreement_known), fixed(s.wfa.network_agreement_known)}});
  } else {
    html += "<p>" + html_escape(s.wfa_note) + "</p>";
  }
  return html;
}

const GlobalSectionRegistration kAutomatonSection(GlobalSection{
    "automaton",
    "The recurrent network as automata",
    "k-means states of the LSTM/GRU into a finite-state machine with its transition table and fidelity "
    "(Omlin & Giles 1996); a weighted automaton learned spectrally from the Hankel matrix of the network's "
    "outputs (Balle et al. 2014; Ayache et al. 2018), against the trigger task's known automaton.",
    {{"clusters", "8", "k-means states", "INT"},
     {"seed", "0", "k-means++ seed", "INT"},
     {"wfa-class", "0", "the class whose probability the WFA learns", "INT"},
     {"wfa-rank", "2", "WFA states (≤ 0: the Hankel matrix's numerical rank)", "INT"}},
    render_automaton});

}  // namespace

}  // namespace xdnn::explain
