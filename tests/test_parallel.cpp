// The thread pool (engine/parallel.cpp): chunk boundaries independent of the thread count, every chunk run
// exactly once, late workers leaving their chunks to the caller, errors, and the thread-count settings.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "engine/parallel.h"
#include "tests/thread_count.h"

using namespace xdnn;

namespace {

using Ranges = std::vector<std::pair<int64_t, int64_t>>;

// The ranges parallel_for hands to fn, sorted.
Ranges ranges_of(int64_t n, int64_t grain) {
  std::mutex m;
  Ranges got;
  parallel_for(n, grain, [&](int64_t b, int64_t e) {
    std::lock_guard<std::mutex> g(m);
    got.emplace_back(b, e);
  });
  std::sort(got.begin(), got.end());
  return got;
}

// The chunks parallel_for promises: [c·size, min(n, (c+1)·size)).
Ranges expected_chunks(int64_t n, int64_t grain) {
  const int64_t size = parallel_chunk_size(n, grain);
  Ranges want;
  for (int64_t b = 0; b < n; b += size) want.emplace_back(b, std::min(n, b + size));
  return want;
}

}  // namespace

TEST_CASE("parallel_for: chunks depend only on n and grain, each runs once, for 1 to 4 threads") {
  testing::RestoreThreadCount restore;
  const std::vector<std::pair<int64_t, int64_t>> cases = {{1, 1},     {5, 8},     {8, 8},       {9, 8},
                                                          {100, 7},   {1000, 1},  {4097, 64},   {1 << 20, 1},
                                                          {333, 333}, {334, 333}, {65536, 1024}};
  for (int threads = 1; threads <= 4; ++threads) {
    set_num_threads(threads);
    for (const auto& c : cases) {
      const int64_t n = c.first, grain = c.second;
      CAPTURE(threads);
      CAPTURE(n);
      CAPTURE(grain);
      const Ranges want = expected_chunks(n, grain);
      CHECK(ranges_of(n, grain) == want);
      // At least grain per chunk (but the last), at most 64 chunks, a loop within one grain in one piece.
      CHECK(want.size() <= 64);
      for (size_t i = 0; i + 1 < want.size(); ++i) CHECK(want[i].second - want[i].first >= grain);
      if (n <= grain) CHECK(want.size() == 1);
    }
  }
}

TEST_CASE("parallel_for: nested calls run the same chunks inline, and every index is written once") {
  testing::RestoreThreadCount restore;
  set_num_threads(3);
  const int64_t outer = 40, inner = 1000;
  std::vector<int> hits(static_cast<size_t>(outer * inner), 0);
  std::mutex m;
  std::vector<Ranges> inner_ranges;
  parallel_for(outer, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      Ranges mine;
      parallel_for(inner, 10, [&](int64_t s, int64_t t) {
        mine.emplace_back(s, t);
        for (int64_t j = s; j < t; ++j) ++hits[static_cast<size_t>(i * inner + j)];
      });
      std::lock_guard<std::mutex> g(m);
      inner_ranges.push_back(mine);
    }
  });
  CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }));
  REQUIRE(inner_ranges.size() == static_cast<size_t>(outer));
  for (const Ranges& r : inner_ranges) CHECK(r == expected_chunks(inner, 10));  // in order, on one thread
}

TEST_CASE("parallel_for: the caller runs the chunks a stalled worker has not taken") {
  // A worker that stalls inside its first chunk (as a descheduled thread would) must not hold up the other
  // chunks: the caller takes them all. Under a fixed split (one range per thread) the caller would run its
  // own range and then wait, and the stalled worker would wait for the caller in vain (here: until the
  // 10 s guard, then the CHECK fails).
  testing::RestoreThreadCount restore;
  set_num_threads(2);
  const std::thread::id caller = std::this_thread::get_id();
  const int64_t n = 64;  // 64 chunks of 1
  std::atomic<int64_t> caller_chunks{0};
  std::atomic<bool> worker_started{false}, caller_did_the_rest{false};
  const auto wait_for = [](const auto& pred) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!pred() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    return pred();
  };
  parallel_for(n, 1, [&](int64_t, int64_t) {
    if (std::this_thread::get_id() == caller) {
      // The first chunk waits until the worker holds one, so the worker surely takes part.
      if (caller_chunks.fetch_add(1) == 0) wait_for([&] { return worker_started.load(); });
    } else if (!worker_started.exchange(true)) {
      caller_did_the_rest = wait_for([&] { return caller_chunks.load() == n - 1; });
    }
  });
  CHECK(worker_started.load());
  CHECK(caller_did_the_rest.load());
  CHECK(caller_chunks.load() == n - 1);
}

TEST_CASE("parallel_for: an exception in a chunk reaches the caller; the pool keeps working") {
  testing::RestoreThreadCount restore;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    CHECK_THROWS_WITH_AS(parallel_for(1000, 10,
                                      [](int64_t b, int64_t e) {
                                        if (b <= 500 && 500 < e) throw Error("chunk 500 failed");
                                      }),
                         "chunk 500 failed", Error);
    CHECK(ranges_of(1000, 10) == expected_chunks(1000, 10));
  }
}

TEST_CASE("thread counts: XDNN_NUM_THREADS and set_num_threads reject what is not 1 to kMaxThreads") {
  CHECK(parse_num_threads("1") == 1);
  CHECK(parse_num_threads("8") == 8);
  CHECK(parse_num_threads(std::to_string(kMaxThreads)) == kMaxThreads);
  const std::vector<std::string> bad_values = {
      "abc", "0", "-1", "", " 4", "+4", "4x", "2.5", "99999999999999999999", std::to_string(kMaxThreads + 1)};
  for (const std::string& bad : bad_values) {
    CAPTURE(bad);
    try {
      parse_num_threads(bad);
      FAIL("accepted");
    } catch (const Error& e) {
      const std::string what = e.what();
      CHECK(what.find("XDNN_NUM_THREADS=") == 0);
      CHECK(what.find("expected a whole number of threads from 1 to") != std::string::npos);
      CHECK(what.find('\n') == std::string::npos);
    }
  }
  testing::RestoreThreadCount restore;
  CHECK_THROWS_AS(set_num_threads(0), Error);
  CHECK_THROWS_AS(set_num_threads(-1), Error);
  CHECK_THROWS_AS(set_num_threads(kMaxThreads + 1), Error);
  CHECK(num_threads() == restore.saved);  // unchanged by the refusals
}
