#include <sys/resource.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <memory>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "runtime/cpu/thread_pool.h"
#include "tests/address_space_limit.h"

using resnetc::cpu::ThreadPool;

namespace {

// Runs parallel_for over n and checks that every index was visited exactly once and that the
// chunks were contiguous and at most num_threads() of them.
void check_cover(ThreadPool& pool, int64_t n) {
  std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
  std::atomic<int> chunks{0}, empty_chunks{0};
  // No Catch assertions on worker threads: Catch is not thread-safe.
  pool.parallel_for(n, [&](int64_t begin, int64_t end) {
    if (begin >= end) empty_chunks.fetch_add(1);
    chunks.fetch_add(1);
    for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
  });
  for (int64_t i = 0; i < n; ++i) {
    if (hits[static_cast<size_t>(i)].load() != 1) FAIL("n=" << n << " index " << i << " hit " << hits[static_cast<size_t>(i)].load() << " times");
  }
  CHECK(empty_chunks.load() == 0);
  CHECK(chunks.load() <= pool.num_threads());
  CHECK(chunks.load() == std::min<int64_t>(n, pool.num_threads()));
}

}  // namespace

TEST_CASE("thread pool: sizes", "[cpu]") {
  CHECK(ThreadPool().num_threads() >= 1);
  CHECK(ThreadPool(ThreadPool::Options{.num_threads = 3}).num_threads() == 3);
  CHECK(ThreadPool(ThreadPool::Options{.num_threads = 1}).num_threads() == 1);
  CHECK(ThreadPool::global().num_threads() >= 1);
}

TEST_CASE("thread pool: every index exactly once", "[cpu]") {
  for (int threads : {1, 2, 3, 4, 7, 16}) {
    for (int spin : {0, 100}) {
      ThreadPool pool(ThreadPool::Options{.num_threads = threads, .spin_microseconds = spin});
      INFO("threads=" << threads << " spin=" << spin);
      for (int64_t n : {0, 1, 2, 3, 5, 6, 7, 8, 15, 16, 17, 31, 100, 1000, 4097, 100000}) check_cover(pool, n);
    }
  }
}

TEST_CASE("thread pool: chunk boundaries are contiguous and balanced", "[cpu]") {
  ThreadPool pool(ThreadPool::Options{.num_threads = 4});
  std::mutex mutex;
  std::set<std::pair<int64_t, int64_t>> ranges;
  pool.parallel_for(10, [&](int64_t begin, int64_t end) {
    std::lock_guard lock(mutex);
    ranges.emplace(begin, end);
  });
  CHECK(ranges == std::set<std::pair<int64_t, int64_t>>{{0, 3}, {3, 6}, {6, 8}, {8, 10}});
}

TEST_CASE("thread pool: negative n does nothing", "[cpu]") {
  ThreadPool pool;
  bool called = false;
  pool.parallel_for(-5, [&](int64_t, int64_t) { called = true; });
  CHECK_FALSE(called);
}

TEST_CASE("thread pool: work runs on several threads", "[cpu]") {
  ThreadPool pool(ThreadPool::Options{.num_threads = 4});
  std::mutex mutex;
  std::set<std::thread::id> ids;
  // Chunks that take a while, so the caller cannot do them all before the workers wake.
  for (int attempt = 0; attempt < 20 && ids.size() < 2; ++attempt) {
    pool.parallel_for(4, [&](int64_t, int64_t) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      std::lock_guard lock(mutex);
      ids.insert(std::this_thread::get_id());
    });
  }
  CHECK(ids.size() >= 2);
}

TEST_CASE("thread pool: many repeated calls", "[cpu]") {
  for (int spin : {0, 50}) {
    ThreadPool pool(ThreadPool::Options{.num_threads = 3, .spin_microseconds = spin});
    std::atomic<int64_t> sum{0};
    for (int call = 0; call < 20000; ++call) {
      pool.parallel_for(call % 7, [&](int64_t begin, int64_t end) { sum.fetch_add(end - begin); });
    }
    int64_t expected = 0;
    for (int call = 0; call < 20000; ++call) expected += call % 7;
    CHECK(sum.load() == expected);
  }
}

TEST_CASE("thread pool: loops of changing size back to back", "[cpu]") {
  // More threads than cores and chunk counts that change from one loop to the next: a worker
  // that wakes late must never run a chunk of the next loop it did not claim.
  ThreadPool pool(ThreadPool::Options{.num_threads = 8, .spin_microseconds = 20});
  const int64_t sizes[] = {2, 3, 50, 8, 9, 5, 1000, 7};
  int64_t bad = 0;
  for (int call = 0; call < 20000; ++call) {
    int64_t n = sizes[call % 8];
    std::atomic<int64_t> sum{0}, count{0};
    pool.parallel_for(n, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) sum.fetch_add(i + 1, std::memory_order_relaxed);
      count.fetch_add(end - begin, std::memory_order_relaxed);
    });
    if (sum.load() != n * (n + 1) / 2 || count.load() != n) ++bad;
  }
  CHECK(bad == 0);
}

TEST_CASE("thread pool: nested calls run inline", "[cpu]") {
  ThreadPool pool(ThreadPool::Options{.num_threads = 3});
  constexpr int64_t outer = 9, inner = 50;
  std::vector<std::atomic<int>> hits(outer * inner);
  pool.parallel_for(outer, [&](int64_t ob, int64_t oe) {
    for (int64_t o = ob; o < oe; ++o) {
      pool.parallel_for(inner, [&](int64_t ib, int64_t ie) {
        for (int64_t i = ib; i < ie; ++i) hits[static_cast<size_t>(o * inner + i)].fetch_add(1);
      });
      // A different pool from inside a chunk runs inline too.
      ThreadPool::global().parallel_for(3, [](int64_t, int64_t) {});
    }
  });
  for (auto& h : hits) CHECK(h.load() == 1);
}

TEST_CASE("thread pool: calls from several outside threads take turns", "[cpu]") {
  ThreadPool pool(ThreadPool::Options{.num_threads = 3});
  std::atomic<int64_t> sum{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int call = 0; call < 2000; ++call) {
        pool.parallel_for(10, [&](int64_t begin, int64_t end) { sum.fetch_add(end - begin); });
      }
    });
  }
  for (auto& c : callers) c.join();
  CHECK(sum.load() == 4 * 2000 * 10);
}

TEST_CASE("thread pool: exceptions propagate to the caller", "[cpu]") {
  ThreadPool pool(ThreadPool::Options{.num_threads = 4});
  for (int64_t bad_chunk_start : {0, 25, 50, 75}) {
    INFO("throwing in chunk starting at " << bad_chunk_start);
    CHECK_THROWS_WITH(pool.parallel_for(100,
                                        [&](int64_t begin, int64_t) {
                                          if (begin == bad_chunk_start) throw std::runtime_error("chunk failed");
                                        }),
                      "chunk failed");
  }
  // Single-chunk (inline) path too.
  CHECK_THROWS_AS(pool.parallel_for(1, [](int64_t, int64_t) { throw std::out_of_range("one"); }), std::out_of_range);
  // The pool is still usable, and the error does not stick.
  check_cover(pool, 1000);
  // The inside-loop flag is restored after an inline exception: a later loop is parallel again.
  std::atomic<int> chunks{0};
  pool.parallel_for(4, [&](int64_t, int64_t) { chunks.fetch_add(1); });
  CHECK(chunks.load() == 4);
}

namespace {
struct AddCtx {
  std::vector<float>* y;
  float value;
};
void add_range(void* ctx, int64_t begin, int64_t end) {
  auto* c = static_cast<AddCtx*>(ctx);
  for (int64_t i = begin; i < end; ++i) (*c->y)[static_cast<size_t>(i)] += c->value;
}
void throw_range(void*, int64_t, int64_t) { throw std::runtime_error("from C callback"); }
}  // namespace

using resnetc::testing::AddressSpaceLimit;

TEST_CASE("thread pool: a thread that cannot start is an error, and the started ones are stopped", "[cpu]") {
  // Each thread reserves a stack of megabytes: 64 MiB of address space runs out long before
  // 512 threads. Before the fix, the half-built pool's joinable threads called std::terminate.
  std::string message;
  {
    const AddressSpaceLimit limit(size_t{64} << 20);
    try {
      ThreadPool pool(ThreadPool::Options{.num_threads = 512});
    } catch (const std::runtime_error& e) {
      message = e.what();
    }
  }
  CHECK_THAT(message, Catch::StartsWith("cannot start the CPU thread pool: thread ") && Catch::Contains(" of 512: "));
}

TEST_CASE("thread pool: C entry point", "[cpu]") {
  ThreadPool pool(ThreadPool::Options{.num_threads = 2});
  std::vector<float> y(12345, 1.0f);
  AddCtx ctx{&y, 2.5f};
  resnetc_parallel_for(&pool, static_cast<int64_t>(y.size()), &add_range, &ctx);
  for (float v : y) REQUIRE(v == 3.5f);
  // A null pool is the global one.
  resnetc_parallel_for(nullptr, static_cast<int64_t>(y.size()), &add_range, &ctx);
  for (float v : y) REQUIRE(v == 6.0f);
  resnetc_parallel_for(&pool, 0, &add_range, &ctx);
  CHECK_THROWS_WITH(resnetc_parallel_for(&pool, 10, &throw_range, nullptr), "from C callback");
}

TEST_CASE("thread pool: overhead per call", "[cpu][timing]") {
  // Reported on stderr, not asserted (the machine may be loaded).
  using clock = std::chrono::steady_clock;
  // Empty body: the caller usually claims every chunk before a worker gets there, so this is
  // the cost of publishing a loop and checking that it is done.
  auto empty = [](ThreadPool& pool) {
    auto body = [](void*, int64_t, int64_t) {};
    for (int i = 0; i < 1000; ++i) pool.parallel_for(1 << 20, body, nullptr);  // warm up
    constexpr int calls = 20000;
    auto start = clock::now();
    for (int i = 0; i < calls; ++i) pool.parallel_for(1 << 20, body, nullptr);
    return std::chrono::duration<double, std::micro>(clock::now() - start).count() / calls;
  };
  // A body of fixed work per index (about 1 us): the time above work/threads is what it costs
  // to get the workers going and wait for them.
  auto busy = [](ThreadPool& pool, double* ideal_us) {
    static std::atomic<uint64_t> sink{0};
    auto body = [](void*, int64_t begin, int64_t end) {
      uint64_t x = 1;
      for (int64_t i = begin; i < end; ++i)
        for (int k = 0; k < 300; ++k) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      sink.fetch_add(x, std::memory_order_relaxed);
    };
    const int64_t n = 8 * pool.num_threads();
    for (int i = 0; i < 200; ++i) body(nullptr, 0, n);  // warm up
    constexpr int calls = 5000;
    auto start = clock::now();
    for (int i = 0; i < calls; ++i) body(nullptr, 0, n);
    double serial = std::chrono::duration<double, std::micro>(clock::now() - start).count() / calls;
    for (int i = 0; i < 200; ++i) pool.parallel_for(n, body, nullptr);
    start = clock::now();
    for (int i = 0; i < calls; ++i) pool.parallel_for(n, body, nullptr);
    double parallel = std::chrono::duration<double, std::micro>(clock::now() - start).count() / calls;
    *ideal_us = serial / pool.num_threads();
    return parallel;
  };
  for (int spin : {0, 100}) {
    ThreadPool pool(ThreadPool::Options{.spin_microseconds = spin});
    double e = empty(pool), ideal = 0;
    double b = busy(pool, &ideal);
    std::fprintf(stderr,
                 "parallel_for, %d threads, spin %3d us: empty body %.3f us/call; "
                 "%.1f us of work: %.2f us/call (ideal %.2f, overhead %.2f)\n",
                 pool.num_threads(), spin, e, ideal * pool.num_threads(), b, ideal, b - ideal);
    CHECK(e < 1000.0);
  }
}
