// The automaton analysis of a recurrent text model as `xdnn automaton` and the global report's
// "automaton" section show it: the k-means state machine (automaton.h) extracted on one set of sequences
// and scored on another, and, on the trigger task, the spectral weighted automaton (spectral_wfa.h) of the
// network's probability of one class, compared with the task's known automaton.
//
// The trigger task's known automaton for class c over the alphabet {trigger c, filler a, filler b}: two
// states, "no trigger c read yet" (output 0) and "trigger c read" (output 1): f*(w) = 1 iff w holds
// trigger c. Its Hankel matrix has rank 2. The network reads each word after one filler a, since it refuses
// an empty sequence; a filler does not change f*.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "explain/global/automaton.h"
#include "explain/global/spectral_wfa.h"
#include "models/model.h"

namespace xdnn::explain {

struct AutomatonStudyOptions {
  AutomatonOptions kmeans;
  int64_t wfa_class = 0;        // c
  int64_t wfa_basis = 2;        // L: prefixes and suffixes of length ≤ L
  int64_t wfa_rank = 2;         // n; ≤ 0: the numerical rank
  int64_t wfa_test_length = 6;  // the WFA is compared with the network on every word of length 1..this
};

struct WfaCheck {
  Wfa wfa;
  std::vector<std::string> symbols;              // the alphabet's words
  int64_t words = 0, max_length = 0;             // compared words: every one of length 1..max_length
  double mean_abs_error = 0, max_abs_error = 0;  // |WFA − network| over them
  double agreement_known = 0;                    // share where [WFA > 1/2] equals the known automaton f*
  double network_agreement_known = 0;            // share where [network > 1/2] equals f*
};

struct AutomatonStudy {
  std::string layer;
  AutomatonResult fsm;
  TransitionTable table;
  double fsm_accuracy = -1;  // held out, against the labels; −1 without labels
  bool has_wfa = false;
  std::string wfa_note;  // why there is none
  WfaCheck wfa;
};

// f(w) = softmax(model(lead ++ tokens of w))[cls] for a batch of words; symbol s is token symbol_tokens[s].
WordFunction class_probability_function(const Model& model, const std::vector<int64_t>& symbol_tokens,
                                        const std::vector<int64_t>& lead_tokens, int64_t cls);

// held_labels: int64 (N_held,) or undefined. vocabulary: token id -> text (finds the trigger task's words).
AutomatonStudy automaton_study(const Model& model, const Tensor& fit_ids, const Tensor& held_ids,
                               const Tensor& held_labels, const std::vector<std::string>& vocabulary,
                               const std::vector<std::string>& class_names, const AutomatonStudyOptions& options);

std::string automaton_study_text(const AutomatonStudy& s);

}  // namespace xdnn::explain
