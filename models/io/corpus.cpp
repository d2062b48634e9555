// Jane Austen sentences. See corpus.h for the choices made.
#include "models/io/corpus.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "engine/error.h"
#include "engine/random.h"
#include "models/io/rdata.h"

namespace xdnn::text {

namespace {

bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Titles written with a full stop in the Gutenberg texts; a '.' after them does not end a sentence.
bool is_title_abbreviation(const std::string& w) {
  static const char* const titles[] = {"Mr",   "Mrs", "Dr",  "St",  "Messrs", "Esq",
                                       "Capt", "Col", "Gen", "Adm", "Lieut",  "Rev"};
  for (const char* t : titles)
    if (w == t) return true;
  // An initial ("J. Smith"), but not the words "I" and "A", which do end sentences.
  return w.size() == 1 && w[0] >= 'B' && w[0] <= 'Z' && w[0] != 'I';
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(' ');
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(' ') - b + 1);
}

bool is_heading(const std::string& paragraph) {
  if (std::none_of(paragraph.begin(), paragraph.end(), is_lower)) return true;
  const size_t words = word_tokens(paragraph).size();
  for (const char* prefix : {"Chapter ", "CHAPTER ", "Volume ", "VOLUME "})
    if (paragraph.rfind(prefix, 0) == 0 && words <= 4) return true;
  return words <= 4 && paragraph.find_first_of(".!?,;:") == std::string::npos;
}

// Lines -> paragraphs: non-blank lines joined with one space, runs of spaces collapsed.
std::vector<std::string> paragraphs(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) out.push_back(trim(cur));
    cur.clear();
  };
  for (const std::string& line : lines) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      flush();
      continue;
    }
    for (char c : line) {
      if (c == '\t' || c == '\r') c = ' ';
      if (c == ' ' && (cur.empty() || cur.back() == ' ')) continue;
      cur += c;
    }
    if (!cur.empty() && cur.back() != ' ') cur += ' ';
  }
  flush();
  return out;
}

void split_paragraph(const std::string& p, std::vector<std::string>& out) {
  const size_t n = p.size();
  size_t start = 0;
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != '.' && p[i] != '!' && p[i] != '?') continue;
    size_t j = i + 1;  // absorb "?!", '."', ".)", "._"
    while (j < n && std::string_view(".!?\"')]_").find(p[j]) != std::string_view::npos) ++j;
    if (j >= n || p[j] != ' ') {
      i = j - 1;
      continue;
    }
    size_t k = j;
    while (k < n && p[k] == ' ') ++k;
    if (k >= n || is_lower(p[k])) {
      i = j - 1;
      continue;
    }
    if (p[i] == '.') {
      size_t b = i;
      while (b > start && is_alpha(p[b - 1])) --b;
      if (is_title_abbreviation(p.substr(b, i - b))) {
        i = j - 1;
        continue;
      }
    }
    out.push_back(trim(p.substr(start, j - start)));
    start = k;
    i = k - 1;
  }
  if (start < n) {
    const std::string rest = trim(p.substr(start));
    if (!rest.empty()) out.push_back(rest);
  }
}

}  // namespace

const std::array<std::string, 6>& austen_novel_names() {
  static const std::array<std::string, 6> names = {"sensesensibility", "prideprejudice", "mansfieldpark", "emma",
                                                   "northangerabbey",  "persuasion"};
  return names;
}

std::vector<std::string> austen_class_names() {
  return {"Sense & Sensibility", "Pride & Prejudice", "Mansfield Park", "Emma", "Northanger Abbey", "Persuasion"};
}

std::string janeausten_dir(const std::string& dir) {
  if (!dir.empty()) return dir;
  if (const char* env = std::getenv("XDNN_JANEAUSTEN_DIR"); env && *env) return env;
  return "/usr/lib/R/site-library/janeaustenr/data";
}

std::vector<Novel> load_austen_novels(const std::string& dir) {
  const std::string base = (std::filesystem::path(janeausten_dir(dir)) / "Rdata").string();
  for (const char* ext : {".rdx", ".rdb"}) {
    if (!std::filesystem::exists(base + ext)) {
      throw Error("Jane Austen corpus not found at " + base + ext + ": install the Debian package r-cran-janeaustenr",
                  "apt-get install -y --no-install-recommends r-cran-janeaustenr (or set XDNN_JANEAUSTEN_DIR)");
    }
  }
  const rdata::LazyLoadIndex index = rdata::read_lazyload_index(base);
  const std::vector<std::string> titles = austen_class_names();
  std::vector<Novel> novels;
  for (size_t c = 0; c < austen_novel_names().size(); ++c) {
    const std::string& name = austen_novel_names()[c];
    const rdata::RObject obj = rdata::read_lazyload_object(base, index, name);
    novels.push_back({name, titles[c], rdata::character_vector(obj, base + ".rdb object '" + name + "'")});
  }
  return novels;
}

std::vector<std::string> split_sentences(const std::vector<std::string>& lines, int64_t min_words) {
  std::vector<std::string> sentences;
  for (const std::string& p : paragraphs(lines)) {
    if (is_heading(p)) continue;
    std::vector<std::string> parts;
    split_paragraph(p, parts);
    for (std::string& s : parts)
      if (static_cast<int64_t>(word_tokens(s).size()) >= min_words) sentences.push_back(std::move(s));
  }
  return sentences;
}

AustenSplit load_austen_sentences(const AustenOptions& o) {
  if (!(o.test_fraction >= 0.0 && o.test_fraction < 1.0)) {
    throw Error("load_austen_sentences: test_fraction must be in [0, 1), got " + std::to_string(o.test_fraction));
  }
  const std::vector<Novel> novels = load_austen_novels(o.dir);
  Rng rng(o.seed);
  auto shuffle = [&rng](std::vector<size_t>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
  };
  std::vector<std::pair<std::string, int64_t>> train, test;
  for (size_t c = 0; c < novels.size(); ++c) {
    std::vector<std::string> sentences = split_sentences(novels[c].lines, o.min_words);
    std::vector<size_t> order(sentences.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    shuffle(order);
    if (o.max_per_class >= 0 && order.size() > static_cast<size_t>(o.max_per_class)) {
      order.resize(static_cast<size_t>(o.max_per_class));
    }
    const size_t n_test = static_cast<size_t>(std::llround(o.test_fraction * static_cast<double>(order.size())));
    for (size_t i = 0; i < order.size(); ++i) {
      (i < n_test ? test : train).emplace_back(std::move(sentences[order[i]]), static_cast<int64_t>(c));
    }
  }
  auto unpack = [&](std::vector<std::pair<std::string, int64_t>>& rows, std::vector<std::string>& texts,
                    std::vector<int64_t>& labels) {
    std::vector<size_t> order(rows.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    shuffle(order);
    for (size_t i : order) {
      texts.push_back(std::move(rows[i].first));
      labels.push_back(rows[i].second);
    }
  };
  std::vector<std::string> train_texts, test_texts;
  std::vector<int64_t> train_labels, test_labels;
  unpack(train, train_texts, train_labels);
  unpack(test, test_texts, test_labels);
  Vocabulary vocab = build_vocabulary(train_texts, o.level, o.vocab_size, o.min_count);
  AustenSplit split;
  split.train = make_text_dataset(std::move(train_texts), train_labels, austen_class_names(), vocab, o.max_len);
  split.test = make_text_dataset(std::move(test_texts), test_labels, austen_class_names(), vocab, o.max_len);
  return split;
}

}  // namespace xdnn::text
