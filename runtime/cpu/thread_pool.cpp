#include "runtime/cpu/thread_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <system_error>
#include <utility>

#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace resnetc::cpu {
namespace {

// Set on worker threads for their whole life, and on a caller while it runs chunks: a
// parallel_for issued from inside a chunk runs inline instead of deadlocking on the pool.
thread_local bool t_inside_loop = false;

constexpr int kMaxThreads = 4096;  // the chunk count must fit the 16-bit fields of claim_

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// CPUs this process may run on (taskset/cgroup cpusets), which hardware_concurrency() ignores.
int default_num_threads() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
#endif
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Polls `done` until it returns true or `microseconds` have passed; true if it became true.
template <typename Done>
bool spin_until(int microseconds, Done done) {
  if (microseconds <= 0) return done();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(microseconds);
  for (;;) {
    for (int i = 0; i < 32; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}

constexpr uint64_t pack_claim(uint32_t generation, uint32_t chunks, uint32_t next) {
  return (uint64_t{generation} << 32) | (uint64_t{chunks} << 16) | uint64_t{next};
}

void std_function_trampoline(void* ctx, int64_t begin, int64_t end) {
  (*static_cast<const std::function<void(int64_t, int64_t)>*>(ctx))(begin, end);
}

}  // namespace

ThreadPool::ThreadPool() : ThreadPool(Options{}) {}

ThreadPool::ThreadPool(Options options) {
  num_threads_ = options.num_threads > 0 ? options.num_threads : default_num_threads();
  num_threads_ = std::clamp(num_threads_, 1, kMaxThreads);
  spin_microseconds_ = std::max(0, options.spin_microseconds);
  workers_.reserve(static_cast<size_t>(num_threads_ - 1));
  try {
    for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { worker_main(i); });
  } catch (const std::system_error& e) {
    // The destructor does not run for a half-built pool, and destroying a joinable
    // std::thread calls std::terminate: stop the workers already started here.
    const size_t started = workers_.size();
    stop_workers();
    throw std::runtime_error(fmt::format("cannot start the CPU thread pool: thread {} of {}: {}", started + 2,
                                         num_threads_, e.what()));
  }
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::stop_workers() {
  {
    std::lock_guard lock(submit_mutex_);
    stop_.store(true, std::memory_order_seq_cst);
    generation_.fetch_add(1, std::memory_order_seq_cst);
    generation_.notify_all();
  }
  for (auto& worker : workers_) worker.join();
}

ThreadPool& ThreadPool::global() {
  static ThreadPool pool([] {
    Options options;
    if (const char* env = std::getenv("RESNETC_NUM_THREADS")) {
      char* end = nullptr;
      long value = std::strtol(env, &end, 10);
      if (end != env && *end == '\0' && value > 0 && value <= kMaxThreads) options.num_threads = static_cast<int>(value);
    }
    return options;
  }());
  return pool;
}

void ThreadPool::run_inline(int64_t n, RangeFn fn, void* ctx) {
  bool was_inside = t_inside_loop;
  t_inside_loop = true;
  try {
    fn(ctx, 0, n);
  } catch (...) {
    t_inside_loop = was_inside;
    throw;
  }
  t_inside_loop = was_inside;
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  parallel_for(n, &std_function_trampoline, const_cast<void*>(static_cast<const void*>(&fn)));
}

void ThreadPool::parallel_for(int64_t n, RangeFn fn, void* ctx) {
  if (n <= 0) return;
  if (n == 1 || num_threads_ == 1 || t_inside_loop) {
    run_inline(n, fn, ctx);
    return;
  }

  std::lock_guard lock(submit_mutex_);
  auto chunks = static_cast<uint32_t>(std::min<int64_t>(n, num_threads_));
  fn_.store(fn, std::memory_order_relaxed);
  ctx_.store(ctx, std::memory_order_relaxed);
  n_.store(n, std::memory_order_relaxed);
  failed_.store(false, std::memory_order_relaxed);
  pending_.store(chunks, std::memory_order_relaxed);
  uint32_t generation = generation_.load(std::memory_order_relaxed) + 1;
  // Publishes the fields above to whoever claims a chunk of this loop.
  claim_.store(pack_claim(generation, chunks, 0), std::memory_order_release);
  // Wake the workers: a spinning one sees the new generation; a sleeping one needs the futex.
  // (seq_cst on both sides: either we see its sleeping_workers_ increment, or it sees this.)
  generation_.store(generation, std::memory_order_seq_cst);
  if (sleeping_workers_.load(std::memory_order_seq_cst) > 0) generation_.notify_all();

  t_inside_loop = true;
  run_chunks(generation);
  t_inside_loop = false;

  // Wait for chunks still running on workers.
  auto done = [this] { return pending_.load(std::memory_order_acquire) == 0; };
  if (!spin_until(spin_microseconds_, done)) {
    for (;;) {
      caller_sleeping_.store(true, std::memory_order_seq_cst);
      uint32_t left = pending_.load(std::memory_order_seq_cst);
      if (left == 0) break;
      pending_.wait(left, std::memory_order_acquire);
    }
    caller_sleeping_.store(false, std::memory_order_relaxed);
    (void)done();  // acquire: the workers' writes are visible
  }

  if (failed_.load(std::memory_order_relaxed)) {
    std::exception_ptr error;
    {
      std::lock_guard error_lock(error_mutex_);
      error = std::exchange(error_, nullptr);
    }
    if (error) std::rethrow_exception(error);
  }
}

void ThreadPool::run_chunks(uint32_t generation) {
  uint64_t claim = claim_.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<uint32_t>(claim >> 32) != generation) return;  // a later loop: not ours
    auto chunks = static_cast<uint32_t>((claim >> 16) & 0xffff);
    auto index = static_cast<uint32_t>(claim & 0xffff);
    if (index >= chunks) return;  // all claimed
    if (!claim_.compare_exchange_weak(claim, claim + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      continue;  // `claim` now holds the current value
    }
    // Chunk `index` of this loop is ours; the loop cannot finish (and its fields cannot be
    // overwritten) before we decrement pending_ below.
    if (!failed_.load(std::memory_order_relaxed)) {
      int64_t n = n_.load(std::memory_order_relaxed);
      int64_t base = n / chunks;
      int64_t rem = n % chunks;
      int64_t begin = base * index + std::min<int64_t>(index, rem);
      int64_t end = begin + base + (index < rem ? 1 : 0);
      try {
        fn_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed), begin, end);
      } catch (...) {
        std::lock_guard error_lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
        failed_.store(true, std::memory_order_relaxed);
      }
    }
    if (pending_.fetch_sub(1, std::memory_order_seq_cst) == 1 && caller_sleeping_.load(std::memory_order_seq_cst)) {
      pending_.notify_one();
    }
    claim = claim_.load(std::memory_order_acquire);
  }
}

void ThreadPool::worker_main(int /*index*/) {
  t_inside_loop = true;
  uint32_t seen = 0;
  for (;;) {
    uint32_t generation = seen;
    auto changed = [&] {
      generation = generation_.load(std::memory_order_acquire);
      return generation != seen;
    };
    if (!spin_until(spin_microseconds_, changed)) {
      sleeping_workers_.fetch_add(1, std::memory_order_seq_cst);
      while ((generation = generation_.load(std::memory_order_seq_cst)) == seen) {
        generation_.wait(seen, std::memory_order_acquire);
      }
      sleeping_workers_.fetch_sub(1, std::memory_order_relaxed);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = generation;
    run_chunks(generation);
  }
}

}  // namespace resnetc::cpu

extern "C" void resnetc_parallel_for(void* pool, int64_t n, void (*fn)(void* ctx, int64_t begin, int64_t end),
                                     void* ctx) {
  auto& target = pool ? *static_cast<resnetc::cpu::ThreadPool*>(pool) : resnetc::cpu::ThreadPool::global();
  target.parallel_for(n, fn, ctx);
}
