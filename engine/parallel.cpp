// The fork-join pool behind parallel_for.
//
// One job at a time: the caller publishes (fn, n, chunk) and bumps a ticket that packs the generation
// with the job's task count; worker i (1 ≤ i < size) runs task i when i < tasks, the caller runs task 0,
// then waits until the `pending` count of participating workers reaches zero. Workers that do not take
// part in a job never read its fields, so the next job may overwrite them as soon as `pending` is zero.
//
// Waking: after each job a worker spins (pause instruction) for up to 500 µs before it blocks on a condition variable,
// because a forward or backward pass issues its parallel regions back to back and a futex wake-up costs more than most
// of those regions. The caller spins on `pending` the same way. Sleepers are counted so that a job only takes the mutex
// and notifies when someone is actually blocked. All flags that pair a "sleeping" announcement with a state check are
// sequentially consistent (Dekker style): either the waker sees the sleeper, or the sleeper sees the
// new state.
#include "engine/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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

// Whether to spin before blocking. On an idle virtual machine a futex wake-up of a halted vCPU costs
// 30–60 µs, more than most parallel regions of a small forward pass, so a short spin pays. On an
// oversubscribed machine it does not: a spinning thread that gets preempted is not "woken" when its
// job arrives and loses the scheduler's wake-up preference, so a fork-join waits for a time slice
// (measured: 2 µs per fork-join with blocking, 20–150 µs with 20 µs spins, load 17 on 2 cores). So:
// spin only while the 1-minute load average (which counts our own busy threads) is below the number of
// hardware threads + 1, re-read at most every 200 ms, and never when the pool itself has more threads
// than the machine. Quiet machine, 2 threads, fashion-cnn: integrated gradients at batch 32 takes 76 ms
// without spinning, 47 ms with 20 µs spins, 44 ms with 60 µs or 200 µs spins (session 2 chose 50 µs; see spin_us for
// why it is now 500).
bool pool_fits_machine = true;
const int hardware_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

// $XDNN_SPIN: "0" never spins, "1" always spins (when the pool fits the machine), unset or anything else:
// the load-average rule. For measuring both policies on a given machine.
int spin_policy() {
  const char* env = std::getenv("XDNN_SPIN");
  if (env && std::string(env) == "0") return 0;
  if (env && std::string(env) == "1") return 1;
  return -1;
}
const int forced_spin = spin_policy();

bool spinning_pays() {
  if (!pool_fits_machine || forced_spin == 0) return false;
  if (forced_spin == 1) return true;
#if defined(__linux__)
  static std::atomic<int64_t> next_check{0};
  static std::atomic<bool> quiet{true};
  const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  if (now >= next_check.load(std::memory_order_relaxed)) {
    next_check.store(
        now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::milliseconds(200)).count(),
        std::memory_order_relaxed);
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
// spinning pays; returns false on time-out (the caller then blocks).
template <class Pred>
bool spin_until(const Pred& pred) {
  if (pred()) return true;
  if (!spinning_pays()) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us());
  while (true) {
    for (int i = 0; i < 16; ++i) {
      if (pred()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return pred();
  }
}

constexpr int kTaskBits = 16;  // ticket = generation << kTaskBits | tasks
constexpr int kMaxThreads = (1 << kTaskBits) - 1;

class ThreadPool {
 public:
  explicit ThreadPool(int n) { resize(n); }
  ~ThreadPool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int n) {
    stop();
    shutdown_.store(false);
    // A new worker starts at the current ticket: it must not rerun the last job (that job is gone).
    const uint64_t start = ticket_.load();
    n = std::clamp(n, 1, kMaxThreads);
    pool_fits_machine = n <= hardware_threads;
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i, start] { worker_loop(i, start); });
  }

  // Runs fn on [t·chunk, min(n, (t+1)·chunk)) for t in [0, tasks), 2 ≤ tasks ≤ size(); task 0 on the caller.
  void run(int tasks, int64_t n, int64_t chunk, const RangeFn& fn) {
    fn_ = &fn;
    n_ = n;
    chunk_ = chunk;
    error_ = nullptr;
    pending_.store(tasks - 1);
    const uint64_t generation = (ticket_.load() >> kTaskBits) + 1;
    ticket_.store(generation << kTaskBits | static_cast<uint64_t>(tasks));
    if (sleepers_.load() > 0) {
      { std::lock_guard<std::mutex> g(mutex_); }  // a worker between its check and its wait holds the mutex
      wake_.notify_all();
    }
    run_task(0);
    if (!spin_until([this] { return pending_.load() == 0; })) {
      std::unique_lock<std::mutex> lock(mutex_);
      caller_sleeping_.store(true);
      done_.wait(lock, [this] { return pending_.load() == 0; });
      caller_sleeping_.store(false);
    }
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void run_task(int t) {
    const bool was = in_parallel_region;
    in_parallel_region = true;
    try {
      const int64_t b = t * chunk_, e = std::min(n_, b + chunk_);
      if (b < e) (*fn_)(b, e);
    } catch (...) {
      std::lock_guard<std::mutex> g(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
    in_parallel_region = was;
  }

  void worker_loop(int index, uint64_t seen) {
    while (true) {
      auto ready = [&] { return ticket_.load() != seen || shutdown_.load(); };
      if (!spin_until(ready)) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1);
        wake_.wait(lock, ready);
        sleepers_.fetch_sub(1);
      }
      if (shutdown_.load()) return;
      seen = ticket_.load();
      const int tasks = static_cast<int>(seen & kMaxThreads);
      if (index >= tasks) continue;  // not part of this job: touch none of its fields
      run_task(index);
      if (pending_.fetch_sub(1) == 1 && caller_sleeping_.load()) {
        { std::lock_guard<std::mutex> g(mutex_); }  // the caller between its check and its wait holds it
        done_.notify_one();
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
  std::condition_variable wake_, done_;
  std::atomic<uint64_t> ticket_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> caller_sleeping_{false};
  std::atomic<bool> shutdown_{false};
  // The current job; written by the caller before the ticket is published, read by its participants.
  const RangeFn* fn_ = nullptr;
  int64_t n_ = 0, chunk_ = 0;
  std::exception_ptr error_;
};

int default_threads() {
  if (const char* env = std::getenv("XDNN_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

std::mutex pool_mutex;
int requested_threads = 0;

ThreadPool& pool() {
  static ThreadPool p(requested_threads > 0 ? requested_threads : default_threads());
  return p;
}

}  // namespace

int num_threads() { return pool().size(); }

void set_num_threads(int n) {
  std::lock_guard<std::mutex> g(pool_mutex);
  requested_threads = std::max(1, n);
  pool().resize(requested_threads);
}

void parallel_for(int64_t n, int64_t grain, RangeFn fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t max_tasks = (n + grain - 1) / grain;
  if (in_parallel_region || max_tasks <= 1) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> g(pool_mutex);  // one parallel region at a time
  const int tasks = static_cast<int>(std::min<int64_t>(pool().size(), max_tasks));
  if (tasks <= 1) {
    fn(0, n);
    return;
  }
  const int64_t chunk = (n + tasks - 1) / tasks;
  pool().run(tasks, n, chunk, fn);
}

}  // namespace xdnn
