// A recurrent network read as a finite-state machine (Omlin & Giles 1996, "Extraction of rules from
// discrete-time recurrent neural networks"; the k-means quantisation of the hidden-state space of Zeng,
// Goodman & Smyth 1993): the hidden states h_t of the first LSTM / GRU / RNN layer after every token of a
// set of token sequences are clustered by k-means into k states; the machine starts in an extra start
// state, reads a token and moves to the state the network's next hidden state falls into — for each
// (state, token) the target seen most often (ties: the lowest state); each state outputs the class the
// network predicts most often for the prefixes that end in it. A sequence is classified by running the
// machine over its tokens (a (state, token) pair never seen keeps the state) and reading the output.
// Fidelity = share of held-out sequences where the machine's class is the network's.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/model.h"

namespace xdnn::explain {

struct RecurrentStates {
  std::string layer;                   // the recurrent node's name
  Tensor states;                       // float64 (N, T, H): hidden state after token t (zero past the sequence's end)
  std::vector<int64_t> lengths;        // (N): tokens before the padding (id 0) begins
  std::vector<int64_t> prefix_class;   // (N·T): the network's class for ids[n, 0..t] (−1 past the end)
  std::vector<int64_t> network_class;  // (N): its class for the whole sequence
};

// The index of the model's first LSTM / GRU / RNN node; an Error naming the layer kinds it has otherwise
// (checked before any data is read).
int recurrent_node(const Model& model);

// ids: int64 (N, T) right-padded with 0. An Error naming the model's layer kinds when it has no recurrent
// layer, or when the layer is bidirectional (a state after token t then depends on later tokens).
RecurrentStates recurrent_states(const Model& model, const Tensor& ids);

struct AutomatonOptions {
  int64_t clusters = 8;      // k ≥ 1
  int64_t iterations = 100;  // Lloyd iterations at most
  uint64_t seed = 0;         // k-means++ initialisation
};

struct ExtractedAutomaton {
  int64_t num_states = 0;                                      // k + 1; state 0 is the start
  int64_t num_tokens = 0;                                      // V: the largest token id seen + 1
  std::vector<int64_t> next;                                   // (num_states · V): next state, −1 where never seen
  std::vector<int64_t> count;                                  // (num_states · V): how often that transition was seen
  std::vector<int64_t> output;                                 // (num_states): class; −1 for the start state
  std::vector<int64_t> visits;                                 // (num_states): prefixes that ended in each state
  int64_t classify(const int64_t* ids, int64_t length) const;  // the class after the tokens
};

struct AutomatonResult {
  ExtractedAutomaton machine;
  double fidelity_fit = 0;     // on the sequences it was extracted from
  double fidelity = 0;         // on the held-out sequences
  double state_agreement = 0;  // fit set: share of prefixes whose state's output is the network's prefix class
  int64_t fit_sequences = 0, held_out_sequences = 0;
  int64_t unseen_transitions = 0;  // held out: (state, token) pairs read that the fit set never showed
};

// Extracts the machine from `fit` (the sequences' states, recurrent_states) and scores it on `held_out`.
AutomatonResult extract_automaton(const Tensor& fit_ids, const RecurrentStates& fit, const Tensor& held_out_ids,
                                  const RecurrentStates& held_out, const AutomatonOptions& options);

// The transition table as the machine runs it (a pair never seen is a self-loop), the tokens that lead
// everywhere alike merged into one column ("fillera ... (50 tokens)"): header and rows for html_table /
// printing. token_names may be empty (then ids).
struct TransitionTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};
TransitionTable transition_table(const ExtractedAutomaton& m, const std::vector<std::string>& token_names,
                                 const std::vector<std::string>& class_names);
std::string format_table(const TransitionTable& t);  // aligned text

}  // namespace xdnn::explain
