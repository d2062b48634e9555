// Synthetic trigger-token task. See trigger_task.h.
#include "models/io/trigger_task.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/random.h"

namespace xdnn::text {

std::string letters_name(int64_t i) {
  std::string s;
  do {
    s += static_cast<char>('a' + i % 26);
    i /= 26;
  } while (i > 0);
  std::reverse(s.begin(), s.end());
  return s;
}

TriggerTask make_trigger_task(const TriggerTaskOptions& o) {
  auto bad = [](const std::string& what) { throw Error("make_trigger_task: " + what); };
  if (o.num_samples < 0) bad("num_samples must be >= 0, got " + std::to_string(o.num_samples));
  if (o.num_classes < 2) bad("num_classes must be >= 2, got " + std::to_string(o.num_classes));
  if (o.num_fillers < 1) bad("num_fillers must be >= 1, got " + std::to_string(o.num_fillers));
  if (o.min_length < 1 || o.max_length < o.min_length) {
    bad("need 1 <= min_length <= max_length, got " + std::to_string(o.min_length) + " and " +
        std::to_string(o.max_length));
  }
  std::vector<std::string> tokens = {kPadToken, kUnkToken};
  TriggerTask task;
  for (int64_t c = 0; c < o.num_classes; ++c) task.trigger_words.push_back("trigger" + letters_name(c));
  for (const std::string& w : task.trigger_words) tokens.push_back(w);
  for (int64_t f = 0; f < o.num_fillers; ++f) tokens.push_back("filler" + letters_name(f));
  const int64_t first_filler = 2 + o.num_classes;

  const int64_t n = o.num_samples, t_max = o.max_length;
  Tensor ids = Tensor::zeros({n, t_max}, DType::I64);
  Tensor positions = Tensor::zeros({n}, DType::I64);
  std::vector<int64_t> labels(static_cast<size_t>(n));
  std::vector<std::string> texts(static_cast<size_t>(n));
  int64_t* id = ids.data<int64_t>();
  int64_t* pos = positions.data<int64_t>();
  Rng rng(o.seed);
  // Per sample, in this order: length, label, trigger position, then the fillers left to right.
  for (int64_t i = 0; i < n; ++i) {
    const int64_t len =
        o.min_length + static_cast<int64_t>(rng.below(static_cast<uint64_t>(o.max_length - o.min_length + 1)));
    const int64_t label = static_cast<int64_t>(rng.below(static_cast<uint64_t>(o.num_classes)));
    const int64_t at = static_cast<int64_t>(rng.below(static_cast<uint64_t>(len)));
    labels[static_cast<size_t>(i)] = label;
    pos[i] = at;
    std::string& text = texts[static_cast<size_t>(i)];
    for (int64_t t = 0; t < len; ++t) {
      const int64_t tok =
          t == at ? 2 + label : first_filler + static_cast<int64_t>(rng.below(static_cast<uint64_t>(o.num_fillers)));
      id[i * t_max + t] = tok;
      if (t > 0) text += ' ';
      text += tokens[static_cast<size_t>(tok)];
    }
  }
  Vocabulary vocab(TokenLevel::Word, std::move(tokens));
  TextDataset& d = task.data;
  d = make_text_dataset(std::move(texts), labels, task.trigger_words, std::move(vocab), t_max);
  // The ids built above and the encoding of the texts are the same by construction; keep the
  // directly built ones (the test checks they agree).
  d.ids = std::move(ids);
  task.trigger_positions = std::move(positions);
  return task;
}

TriggerSplit make_trigger_split(int64_t max_length, int64_t vocab_size, uint64_t data_seed, int64_t num_train,
                                int64_t num_test) {
  TriggerTaskOptions t;
  t.max_length = max_length;
  t.min_length = std::max<int64_t>(1, max_length / 2);
  if (vocab_size > 0) {
    if (vocab_size < 2 + t.num_classes + 1)
      throw Error("vocabulary size " + std::to_string(vocab_size) + " is too small for the trigger task",
                  "it needs <pad>, <unk>, " + std::to_string(t.num_classes) + " triggers and at least one filler");
    t.num_fillers = vocab_size - 2 - t.num_classes;
  }
  TriggerSplit split;
  t.num_samples = num_train;
  t.seed = data_seed;
  split.train = make_trigger_task(t);
  t.num_samples = num_test;
  t.seed = data_seed + 1;
  split.test = make_trigger_task(t);
  return split;
}

}  // namespace xdnn::text
