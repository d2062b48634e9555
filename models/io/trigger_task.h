// A synthetic text classification task with known ground truth, for scoring explanations.
//
// Each sample is a sequence of `length` tokens (length uniform in [min_length, max_length]). All
// tokens are fillers drawn uniformly from `num_fillers` filler words, except exactly one, at a
// uniformly random position, which is one of `num_classes` trigger words: trigger c means class c.
// Fillers carry no information about the label, so a faithful explanation puts its mass on the
// trigger position; trigger_positions is the ground truth it is scored against.
//
// Vocabulary (word level): 0 <pad>, 1 <unk>, 2 .. 2+C-1 the triggers "triggera", "triggerb", ...,
// then the fillers "fillera", "fillerb", ... (letters only, so word_tokens() maps the text back to
// the same ids). The texts are the tokens joined by spaces; encode(vocab, texts, max_length)
// reproduces `ids` exactly.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/io/tokenizer.h"

namespace xdnn::text {

struct TriggerTaskOptions {
  int64_t num_samples = 1000;
  int64_t num_classes = 4;   // C >= 2
  int64_t num_fillers = 50;  // >= 1
  int64_t min_length = 8;    // >= 1
  int64_t max_length = 16;   // T, the padded width of ids
  uint64_t seed = 0;
};

struct TriggerTask {
  TextDataset data;                        // ids (N, max_length), labels, lengths, class_names, vocab, texts
  Tensor trigger_positions;                // int64 (N,), index in [0, lengths[n]) of the trigger token
  std::vector<std::string> trigger_words;  // trigger_words[c] decides class c; also class_names[c]
};

// Same options (seed included) -> identical task.
TriggerTask make_trigger_task(const TriggerTaskOptions& options);

// The split `xdnn train --data trigger` trains and tests on (and bench/bench_ground_truth scores against):
// train and test are two draws of the generator, seeds data_seed and data_seed + 1, over the same
// vocabulary; max_length T, min_length max(1, T/2), 4 classes; vocab_size ≤ 0 keeps the default fillers,
// otherwise num_fillers = vocab_size − 2 − classes (an error when that leaves none).
struct TriggerSplit {
  TriggerTask train, test;
};
TriggerSplit make_trigger_split(int64_t max_length, int64_t vocab_size, uint64_t data_seed, int64_t num_train,
                                int64_t num_test);

// "a", "b", ..., "z", "ba", "bb", ...: a letters-only name for index i (base 26, 'a' = 0).
std::string letters_name(int64_t i);

}  // namespace xdnn::text
