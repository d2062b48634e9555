#include "engine/parallel.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace xdnn {
namespace {

thread_local bool in_parallel_region = false;

class ThreadPool {
 public:
  explicit ThreadPool(int n) { resize(n); }
  ~ThreadPool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int n) {
    stop();
    shutdown_ = false;
    // A new worker starts at the current generation: it must not rerun the last task the previous
    // workers finished (that task and its pointer are gone).
    const uint64_t start = generation_;
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i, start] { worker_loop(i, start); });
  }

  // Runs task(i) for i in [0, count) with count <= size(); index 0 runs on the caller.
  void run(int count, const std::function<void(int)>& task) {
    std::unique_lock<std::mutex> lock(mutex_);
    task_ = &task;
    task_count_ = count;
    pending_ = count - 1;
    error_ = nullptr;
    ++generation_;
    lock.unlock();
    wake_.notify_all();
    try {
      task(0);
    } catch (...) {
      std::lock_guard<std::mutex> g(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    lock.lock();
    done_.wait(lock, [this] { return pending_ == 0; });
    task_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void worker_loop(int index, uint64_t seen) {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      wake_.wait(lock, [&] { return shutdown_ || generation_ != seen; });
      if (shutdown_) return;
      seen = generation_;
      if (index >= task_count_) continue;
      const std::function<void(int)>* task = task_;
      lock.unlock();
      in_parallel_region = true;
      try {
        (*task)(index);
      } catch (...) {
        std::lock_guard<std::mutex> g(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      in_parallel_region = false;
      lock.lock();
      if (--pending_ == 0) done_.notify_all();
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> g(mutex_);
      shutdown_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int)>* task_ = nullptr;
  int task_count_ = 0;
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool shutdown_ = false;
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

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t max_tasks = (n + grain - 1) / grain;
  if (in_parallel_region || max_tasks <= 1) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> g(pool_mutex);  // one parallel region at a time
  int tasks = static_cast<int>(std::min<int64_t>(pool().size(), max_tasks));
  if (tasks <= 1) {
    fn(0, n);
    return;
  }
  int64_t chunk = (n + tasks - 1) / tasks;
  pool().run(tasks, [&](int t) {
    bool was = in_parallel_region;
    in_parallel_region = true;
    int64_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) fn(b, e);
    in_parallel_region = was;
  });
}

}  // namespace xdnn
