// A libFuzzer-compatible driver without libFuzzer: linked with one harness (LLVMFuzzerTestOneInput) in the
// ordinary GCC release and ASan+UBSan builds, it runs the harness on every seed file and then on `--runs`
// seeded mutations of them (bit flips, boundary bytes and 64-bit values, insertions, deletions, copies,
// truncation), so each CI run fuzzes every harness for a few seconds, deterministically: the same seed
// gives the same inputs on every machine. It finds less than coverage-guided libFuzzer (README.md); it
// keeps what libFuzzer found fixed.
//
//   standalone_driver [--runs N] [--seed S] [--max-len L] [--only K] [--save K FILE] PATH...
//
// PATH: seed files, or folders whose regular files are the seeds (sorted by name). Inputs are numbered:
// 0 .. seeds-1 are the seeds as they are, then the mutations. A failing harness traps or aborts; the
// signal handler names the input's number, `--only K` reruns it and `--save K FILE` writes it out.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

// GCC defines __SANITIZE_ADDRESS__ under -fsanitize=address; clang 14 answers __has_feature instead.
#if defined(__has_feature)
#define XDNN_CLANG_ASAN __has_feature(address_sanitizer)
#else
#define XDNN_CLANG_ASAN 0
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

// The harnesses feed absurd sizes on purpose: an allocation the machine cannot serve must come back as
// nullptr (which the engine turns into an xdnn::Error), not as the sanitizer's abort. The environment's
// ASAN_OPTIONS still override this.
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1:max_allocation_size_mb=4096"; }

namespace {

// SplitMix64 (Steele et al. 2014): small, seedable, the same sequence everywhere.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }
};

void mutate_once(std::string& b, SplitMix64& rng) {
  static const uint64_t wide[] = {0,          1,          0xFF,
                                  0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
                                  1ULL << 32, 1ULL << 34, (1ULL << 61) + 1,
                                  1ULL << 63, ~0ULL,      0x7FFFFFFFFFFFFFFFULL};
  static const uint8_t narrow[] = {0, 1, 0x7F, 0x80, 0xFF, '0', '9', '[', ']', '{', '}', ',', '"', ':'};
  const size_t n = b.size();
  switch (rng.below(8)) {
    case 0:  // flip one bit
      if (n) b[rng.below(n)] ^= static_cast<char>(1u << rng.below(8));
      return;
    case 1:  // a boundary or syntax byte
      if (n) b[rng.below(n)] = static_cast<char>(narrow[rng.below(sizeof(narrow))]);
      return;
    case 2: {  // a boundary 64-bit value, little endian (shape fields, lengths, offsets)
      if (n < 8) return;
      const uint64_t v = wide[rng.below(sizeof(wide) / sizeof(wide[0]))];
      std::memcpy(&b[rng.below(n - 7)], &v, 8);
      return;
    }
    case 3: {  // insert 1-8 random bytes
      std::string ins(1 + rng.below(8), '\0');
      for (char& c : ins) c = static_cast<char>(rng.next());
      b.insert(rng.below(n + 1), ins);
      return;
    }
    case 4:  // erase a run
      if (n) {
        const size_t at = rng.below(n);
        b.erase(at, 1 + rng.below(std::min<size_t>(n - at, 16)));
      }
      return;
    case 5:  // truncate
      b.resize(rng.below(n + 1));
      return;
    case 6:  // copy a chunk over another place
      if (n > 1) {
        const size_t from = rng.below(n), to = rng.below(n);
        const size_t len = 1 + rng.below(std::min<size_t>({n - from, n - to, 32}));
        b.replace(to, len, b.substr(from, len));
      }
      return;
    default:  // a random byte
      if (n) b[rng.below(n)] = static_cast<char>(rng.next());
      return;
  }
}

std::vector<std::pair<std::string, std::string>> read_seeds(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const auto& p : paths) {
    if (fs::is_directory(p)) {
      std::vector<std::string> in_dir;
      for (const auto& e : fs::directory_iterator(p))
        if (e.is_regular_file()) in_dir.push_back(e.path().string());
      std::sort(in_dir.begin(), in_dir.end());
      files.insert(files.end(), in_dir.begin(), in_dir.end());
    } else {
      files.push_back(p);
    }
  }
  std::vector<std::pair<std::string, std::string>> seeds;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "standalone_driver: cannot read seed %s\n", f.c_str());
      std::exit(2);
    }
    std::stringstream s;
    s << in.rdbuf();
    seeds.emplace_back(f, s.str());
  }
  return seeds;
}

volatile long current_input = -1;

void on_fatal_signal(int sig) {
  char line[128];
  const int len =
      std::snprintf(line, sizeof(line), "\nstandalone_driver: input %ld failed (signal %d); rerun it with --only %ld\n",
                    static_cast<long>(current_input), sig, static_cast<long>(current_input));
  if (len > 0) (void)!write(2, line, static_cast<size_t>(len));
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

}  // namespace

int main(int argc, char** argv) {
  long runs = 1000, only = -1, save = -1;
  uint64_t seed = 1;
  size_t max_len = 1 << 20;
  std::string save_file;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--runs" && has_value)
      runs = std::atol(argv[++i]);
    else if (a == "--seed" && has_value)
      seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--max-len" && has_value)
      max_len = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--only" && has_value)
      only = std::atol(argv[++i]);
    else if (a == "--save" && i + 2 < argc)
      save = std::atol(argv[++i]), save_file = argv[++i];
    else if (a.rfind("--", 0) == 0) {
      std::fprintf(stderr, "standalone_driver: unknown option %s\n", a.c_str());
      return 2;
    } else
      paths.push_back(a);
  }
  const auto seeds = read_seeds(paths);
  if (seeds.empty()) {
    std::fprintf(stderr, "standalone_driver: no seed files given\n");
    return 2;
  }
#if !defined(__SANITIZE_ADDRESS__) && !XDNN_CLANG_ASAN
  // Without ASan's allocator limit, an absurd size would be served by overcommitted memory until the
  // machine swaps: bound the address space so that such an allocation fails (as nullptr) instead.
  const rlimit as{rlim_t(4) << 30, rlim_t(4) << 30};
  setrlimit(RLIMIT_AS, &as);
#endif
  for (int sig : {SIGABRT, SIGSEGV, SIGILL, SIGBUS, SIGFPE, SIGTRAP}) std::signal(sig, on_fatal_signal);

  const auto start = std::chrono::steady_clock::now();
  SplitMix64 rng{seed};
  const long total = static_cast<long>(seeds.size()) + runs;
  size_t bytes = 0;
  for (long k = 0; k < total; ++k) {
    std::string input;
    if (k < static_cast<long>(seeds.size())) {
      input = seeds[k].second;
    } else {  // every mutated input draws from the generator, whether it runs or not, so numbers stay put
      input = seeds[rng.below(seeds.size())].second;
      for (size_t m = 1 + rng.below(4); m > 0; --m) mutate_once(input, rng);
    }
    if (input.size() > max_len) input.resize(max_len);
    if (save == k) {
      std::ofstream(save_file, std::ios::binary) << input;
      std::printf("wrote input %ld (%zu bytes) to %s\n", k, input.size(), save_file.c_str());
      return 0;
    }
    if (only >= 0 && only != k) continue;
    current_input = k;
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
    bytes += input.size();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%zu seeds, %ld mutated inputs (seed %llu), %zu bytes, %.2f s: no failure\n", seeds.size(), runs,
              static_cast<unsigned long long>(seed), bytes, seconds);
  return 0;
}
