// Jane Austen's six novels as a sentence classification task ("which novel is this sentence from?").
//
// Source: Debian's r-cran-janeaustenr (Silge, janeaustenr R package; Project Gutenberg texts), one
// character vector per novel, one element per printed line, stored in the package's lazy-load
// database data/Rdata.{rdx,rdb} (read with models/io/rdata.h, no R needed at run time).
//
// Sentences, not line groups: a line of a printed page ends anywhere in a sentence, so lines would
// make the task about line-breaking. We
//   1. join the lines of each paragraph (paragraphs are separated by blank lines),
//   2. drop headings (a paragraph with no lower-case letter, "Chapter 1" / "CHAPTER I" / "VOLUME I",
//      and short paragraphs without sentence punctuation such as "by", "Jane Austen", "Finis"),
//   3. end a sentence after '.', '!' or '?' (plus any closing quotes, brackets and '_'), when the
//      next non-space character is not lower-case (so '"Oh!" said she' stays one sentence) and the
//      word before the '.' is not a title abbreviation (Mr., Mrs., Dr., St., ...),
//   4. keep sentences of at least `min_words` word tokens.
// Sentences therefore never cross a paragraph. Known limits: a few transcriber's notes of the
// Gutenberg editions remain (Northanger Abbey ends with one); abbreviations other than the titles
// listed in corpus.cpp split a sentence; a quotation of several sentences is split with them, so a
// sentence may start or end with an unmatched quote mark.
//
// Classes are the novels in publication order (as in janeaustenr::austen_books()):
//   0 Sense & Sensibility, 1 Pride & Prejudice, 2 Mansfield Park, 3 Emma, 4 Northanger Abbey,
//   5 Persuasion.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "models/io/tokenizer.h"

namespace xdnn::text {

struct Novel {
  std::string name;                // the object name in the R package: "sensesensibility", ...
  std::string title;               // "Sense & Sensibility", ...
  std::vector<std::string> lines;  // one element per printed line, "" for blank lines
};

// The R object names, in class order.
const std::array<std::string, 6>& austen_novel_names();
// The class names (titles), in class order.
std::vector<std::string> austen_class_names();

// Where the lazy-load database is: `dir` if non-empty, else $XDNN_JANEAUSTEN_DIR if set, else
// /usr/lib/R/site-library/janeaustenr/data. (The database is DIR/Rdata.rdx + DIR/Rdata.rdb.)
std::string janeausten_dir(const std::string& dir = "");

// All six novels in class order. Missing package -> xdnn::Error naming r-cran-janeaustenr;
// malformed database -> xdnn::Error naming the file and offset.
std::vector<Novel> load_austen_novels(const std::string& dir = "");

// Steps 1-4 above for one novel's lines.
std::vector<std::string> split_sentences(const std::vector<std::string>& lines, int64_t min_words = 3);

struct AustenOptions {
  std::string dir;  // see janeausten_dir()
  TokenLevel level = TokenLevel::Word;
  int64_t vocab_size = 10000;  // K most frequent training tokens (plus <pad>, <unk>); < 0: all
  int64_t min_count = 1;       // tokens seen fewer times in training are <unk>
  int64_t max_len = 48;        // T: tokens per row (truncate / pad)
  double test_fraction = 0.2;  // of each novel's sentences
  int64_t max_per_class = -1;  // >= 0: at most this many sentences per novel (before the split)
  int64_t min_words = 3;       // shorter sentences are dropped
  uint64_t seed = 0;           // shuffles the split; same seed -> same datasets
};

struct AustenSplit {
  TextDataset train, test;  // same vocab (built from train only) and class_names
};

// Sentences of the six novels, split per novel (stratified) into train and test with a seeded
// shuffle: for each class in order, the sentence indices are Fisher-Yates shuffled with one Rng(seed)
// stream, cut to max_per_class, and the first round(test_fraction * n) go to test. Each split is then
// shuffled again (same stream) so that classes are interleaved. The vocabulary is built from the
// training sentences only.
AustenSplit load_austen_sentences(const AustenOptions& options = {});

}  // namespace xdnn::text
