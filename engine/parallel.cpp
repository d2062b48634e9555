// The fork-join pool behind parallel_for.
//
// Chunks and claims. A job is (fn, n, chunk length) cut into `count` chunks (parallel_chunk_size: from n
// and grain only). The caller publishes the job's fields, then one 64-bit atomic `claims_` word packing
//   generation (24 bits) | front (20 bits) | back (20 bits),   front = 0, back = count;
// chunks [front, back) are still free. The caller takes chunks from the front, workers from the back, each
// by compare-and-swap on the word, until front meets back: with two threads each keeps the half it
// would have had under a fixed split (and its cache), but a worker that is descheduled, or slow to wake
// from a futex, takes nothing and its half is done by the caller. The caller then waits only for chunks
// that were taken and are still running (`done_` counts finished chunks). Before that change a region
// waited for every worker to finish a fixed share: with one core busy (another process), a worker that
// lost its core held up every region for a time slice, and saliency at batch 1 went from 0.05 ms to 2 ms.
//
// Why claims are safe without knowing the job: a claim succeeds only on the word as currently published,
// so a chunk a worker claims belongs to the current job (whatever generation it waited for), and the
// caller of that job does not return, or publish another, until the chunk is done. A worker reads the
// job's fields only after a successful claim; a worker that finds front == back touches nothing.
//
// Waking. After each job a worker spins (pause instruction) for up to 500 µs before it blocks on a
// condition variable, because a forward or backward pass issues its parallel regions back to back and a
// futex wake-up costs more than most of those regions. The caller spins on `done_` the same way. Spinning
// stops while the machine is oversubscribed (spinning_pays). Sleepers are counted so that a job only takes
// the mutex and notifies when someone is actually blocked. All flags that pair a "sleeping" announcement
// with a state check are sequentially consistent (Dekker style): either the waker sees the sleeper, or the
// sleeper sees the new state.
#include "engine/parallel.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace xdnn {
namespace {

thread_local bool in_parallel_region = false;

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

using Clock = std::chrono::steady_clock;
int64_t now_ticks() { return Clock::now().time_since_epoch().count(); }
int64_t ticks(std::chrono::microseconds us) { return std::chrono::duration_cast<Clock::duration>(us).count(); }

// Whether to spin before blocking. On an idle virtual machine a futex wake-up of a halted vCPU costs
// 30–60 µs, more than most parallel regions of a small forward pass, so a short spin pays. On an
// oversubscribed machine it does not: a spinning thread that gets preempted is not "woken" when its
// job arrives and loses the scheduler's wake-up preference, and it burns the time slice of whoever shares
// its core (measured: 2 µs per fork-join with blocking, 20–150 µs with 20 µs spins, load 17 on 2 cores).
// So no spinning
//  - when the pool has more threads than the machine,
//  - while the 1-minute load average (which counts our own busy threads) is at least the number of
//    hardware threads + 1 (re-read at most every 200 ms),
//  - for a second after a spinning thread noticed that it had lost its core (spin_until: a gap of
//    kPreemptedGap between two looks at the clock, which are ~1 µs apart while it runs). This reacts within
//    one time slice, where the load average takes a minute to follow a process that starts on another core.
// Quiet machine, 2 threads, fashion-cnn: integrated gradients at batch 32 takes 76 ms without spinning,
// 47 ms with 20 µs spins, 44 ms with 60 µs or 200 µs spins (session 2 chose 50 µs; see spin_us for why it
// is now 500).
std::atomic<bool> pool_fits_machine{true};
const int hardware_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
constexpr std::chrono::microseconds kPreemptedGap{100};
constexpr std::chrono::milliseconds kBackOff{1000};
std::atomic<int64_t> contended_until{0};  // steady-clock ticks

// $XDNN_SPIN: "0" never spins, "1" always spins (when the pool fits the machine), unset or anything else:
// the rules above. For measuring the policies on a given machine.
int spin_policy() {
  const char* env = std::getenv("XDNN_SPIN");
  if (env && std::string(env) == "0") return 0;
  if (env && std::string(env) == "1") return 1;
  return -1;
}
const int forced_spin = spin_policy();

bool spinning_pays() {
  if (!pool_fits_machine.load(std::memory_order_relaxed) || forced_spin == 0) return false;
  if (forced_spin == 1) return true;
  const int64_t now = now_ticks();
  if (now < contended_until.load(std::memory_order_relaxed)) return false;
#if defined(__linux__)
  static std::atomic<int64_t> next_check{0};
  static std::atomic<bool> quiet{true};
  if (now >= next_check.load(std::memory_order_relaxed)) {
    next_check.store(now + ticks(std::chrono::milliseconds(200)), std::memory_order_relaxed);
    double load = 0;
    if (getloadavg(&load, 1) == 1) quiet.store(load < hardware_threads + 1.0, std::memory_order_relaxed);
  }
  return quiet.load(std::memory_order_relaxed);
#else
  return true;
#endif
}

// How long a spin lasts, in µs: 500, or $XDNN_SPIN_US (for measuring). Session 3, quiet machine, fashion-cnn
// training on 2 threads: 1.56–1.58 s per epoch with 50 µs, 1.43–1.50 s with 200, 500 or 1000 µs, 1.44–1.48
// with 5000 µs: a training step has serial stretches (loss, optimizer, fresh allocations) longer than
// 50 µs, after which the worker slept and the next parallel region paid a futex wake-up. A spin only
// runs while spinning_pays(), so a busy machine is not taxed by it.
int spin_us() {
  static const int us = [] {
    const char* env = std::getenv("XDNN_SPIN_US");
    return env ? std::max(0, std::atoi(env)) : 500;
  }();
  return us;
}

// Spins until pred() holds, for at most spin_us() with the pause instruction between checks, when
// spinning pays; returns false on time-out or when the thread finds it was descheduled mid-spin (the
// caller then blocks).
template <class Pred>
bool spin_until(const Pred& pred) {
  if (pred()) return true;
  if (!spinning_pays()) return false;
  int64_t last = now_ticks();
  const int64_t deadline = last + ticks(std::chrono::microseconds(spin_us()));
  while (true) {
    for (int i = 0; i < 16; ++i) {
      if (pred()) return true;
      cpu_relax();
    }
    const int64_t now = now_ticks();
    if (now - last > ticks(kPreemptedGap)) {  // we lost the core: someone else needs it
      contended_until.store(now + ticks(kBackOff), std::memory_order_relaxed);
      return pred();
    }
    if (now >= deadline) return pred();
    last = now;
  }
}

// The claims word: generation | front | back (see the file comment).
constexpr int kIndexBits = 20;
constexpr uint64_t kIndexMask = (uint64_t(1) << kIndexBits) - 1;
constexpr int64_t kMaxChunks = 64;  // parallel_chunk_size keeps count ≤ this (≪ kIndexMask)
uint64_t generation_of(uint64_t w) { return w >> (2 * kIndexBits); }
int64_t front_of(uint64_t w) { return static_cast<int64_t>((w >> kIndexBits) & kIndexMask); }
int64_t back_of(uint64_t w) { return static_cast<int64_t>(w & kIndexMask); }
uint64_t claims_word(uint64_t generation, int64_t front, int64_t back) {
  return generation << (2 * kIndexBits) | static_cast<uint64_t>(front) << kIndexBits | static_cast<uint64_t>(back);
}

class ThreadPool {
 public:
  explicit ThreadPool(int n) { resize(n); }
  ~ThreadPool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Starts n − 1 workers, or as many as the system allows (a thread or memory limit): the pool then runs
  // with those and says so once on stderr, rather than failing every computation.
  void resize(int n) {
    stop();
    shutdown_.store(false);
    // A worker waits for the generation after the current one, even if it starts after that job came.
    const uint64_t start = generation_of(claims_.load());
    for (int i = 1; i < n; ++i) {
      try {
        workers_.emplace_back([this, start] { worker_loop(start); });
      } catch (const std::exception& e) {  // std::system_error (EAGAIN) or std::bad_alloc
        std::fprintf(stderr, "xdnn: warning: started %d of %d threads (%s); running with %d\n", i, n, e.what(), i);
        break;
      }
    }
    pool_fits_machine.store(size() <= hardware_threads);
  }

  // Runs fn on every chunk of (n, chunk) over the caller and the workers; returns when all are done.
  void run(int64_t n, int64_t chunk, const RangeFn& fn) {
    const int64_t count = (n + chunk - 1) / chunk;
    fn_ = &fn;
    n_ = n;
    chunk_ = chunk;
    error_ = nullptr;
    failed_.store(false);
    done_.store(0);
    const uint64_t generation = (generation_of(claims_.load()) + 1) & ((uint64_t(1) << (64 - 2 * kIndexBits)) - 1);
    claims_.store(claims_word(generation, 0, count));
    if (sleepers_.load() > 0) {
      { std::lock_guard<std::mutex> g(mutex_); }  // a worker between its check and its wait holds the mutex
      wake_.notify_all();
    }
    int64_t mine = 0;
    for (int64_t c; (c = claim(true)) >= 0; ++mine) run_chunk(c);
    done_.fetch_add(mine);
    if (!spin_until([this, count] { return done_.load() == count; })) {
      std::unique_lock<std::mutex> lock(mutex_);
      caller_sleeping_.store(true);
      done_cv_.wait(lock, [this, count] { return done_.load() == count; });
      caller_sleeping_.store(false);
    }
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // Takes the front (caller) or back (worker) chunk of the current job; −1 when none is left.
  int64_t claim(bool front) {
    uint64_t w = claims_.load();
    while (true) {
      const int64_t f = front_of(w), b = back_of(w);
      if (f >= b) return -1;
      const uint64_t taken = front ? claims_word(generation_of(w), f + 1, b) : claims_word(generation_of(w), f, b - 1);
      if (claims_.compare_exchange_weak(w, taken)) return front ? f : b - 1;
    }
  }

  // Runs chunk c of the current job (skipped once a chunk has thrown), then counts it done.
  void run_chunk(int64_t c) {
    const bool was = in_parallel_region;
    in_parallel_region = true;
    if (!failed_.load(std::memory_order_relaxed)) {
      try {
        const int64_t b = c * chunk_, e = std::min(n_, b + chunk_);
        (*fn_)(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> g(error_mutex_);
        if (!error_) error_ = std::current_exception();
        failed_.store(true, std::memory_order_relaxed);
      }
    }
    in_parallel_region = was;
  }

  void worker_loop(uint64_t seen) {
    while (true) {
      auto ready = [&] { return generation_of(claims_.load()) != seen || shutdown_.load(); };
      if (!spin_until(ready)) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1);
        wake_.wait(lock, ready);
        sleepers_.fetch_sub(1);
      }
      if (shutdown_.load()) return;
      seen = generation_of(claims_.load());
      for (int64_t c; (c = claim(false)) >= 0;) {
        // The job's count is the sum of front and back claims; read it before done_ may complete the job.
        const int64_t count = (n_ + chunk_ - 1) / chunk_;
        run_chunk(c);
        if (done_.fetch_add(1) + 1 == count && caller_sleeping_.load()) {
          { std::lock_guard<std::mutex> g(mutex_); }  // the caller between its check and its wait holds it
          done_cv_.notify_one();
        }
      }
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> g(mutex_);
      shutdown_.store(true);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_, error_mutex_;
  std::condition_variable wake_, done_cv_;
  std::atomic<uint64_t> claims_{0};
  std::atomic<int64_t> done_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> caller_sleeping_{false};
  std::atomic<bool> shutdown_{false};
  std::atomic<bool> failed_{false};
  // The current job; written by the caller before claims_ is published, read after a successful claim.
  const RangeFn* fn_ = nullptr;
  int64_t n_ = 0, chunk_ = 0;
  std::exception_ptr error_;
};

int default_threads() {
  if (const char* env = std::getenv("XDNN_NUM_THREADS")) return parse_num_threads(env);
  return hardware_threads;
}

std::mutex pool_mutex;
int requested_threads = 0;

// Built on first use (a failed parse of $XDNN_NUM_THREADS throws from here, and the next call tries again).
ThreadPool& pool() {
  static ThreadPool p(requested_threads > 0 ? requested_threads : default_threads());
  return p;
}

// Runs every chunk on the calling thread, in order.
void run_inline(int64_t n, int64_t chunk, const RangeFn& fn) {
  for (int64_t b = 0; b < n; b += chunk) fn(b, std::min(n, b + chunk));
}

}  // namespace

int parse_num_threads(const std::string& value) {
  const std::string expected = "expected a whole number of threads from 1 to " + std::to_string(kMaxThreads);
  errno = 0;
  char* end = nullptr;
  const long n = std::strtol(value.c_str(), &end, 10);
  const bool digits_only = !value.empty() && value[0] >= '0' && value[0] <= '9' && end == value.c_str() + value.size();
  if (!digits_only || errno == ERANGE || n < 1 || n > kMaxThreads)
    throw Error("XDNN_NUM_THREADS=" + printable(value) + ": " + expected);
  return static_cast<int>(n);
}

// No lock: callable inside a parallel region (whose caller holds pool_mutex).
int num_threads() { return pool().size(); }

void set_num_threads(int n) {
  if (n < 1 || n > kMaxThreads)
    throw Error("set_num_threads(" + std::to_string(n) + "): expected 1 to " + std::to_string(kMaxThreads) +
                " threads");
  std::lock_guard<std::mutex> g(pool_mutex);
  requested_threads = n;
  pool().resize(n);
}

int64_t parallel_chunk_size(int64_t n, int64_t grain) {
  return std::max<int64_t>({1, grain, (n + kMaxChunks - 1) / kMaxChunks});
}

void parallel_for(int64_t n, int64_t grain, RangeFn fn) {
  if (n <= 0) return;
  const int64_t chunk = parallel_chunk_size(n, grain);
  if (chunk >= n) {  // one chunk: nothing to share
    fn(0, n);
    return;
  }
  if (in_parallel_region) {
    run_inline(n, chunk, fn);
    return;
  }
  std::lock_guard<std::mutex> g(pool_mutex);  // one parallel region at a time
  ThreadPool& p = pool();
  if (p.size() > 1) {
    p.run(n, chunk, fn);
    return;
  }
  in_parallel_region = true;  // nested calls run inline rather than wait for pool_mutex
  try {
    run_inline(n, chunk, fn);
  } catch (...) {
    in_parallel_region = false;
    throw;
  }
  in_parallel_region = false;
}

}  // namespace xdnn
