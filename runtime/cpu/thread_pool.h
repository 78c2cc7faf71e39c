// A persistent thread pool for the CPU backend: every generated kernel of every training step
// runs through parallel_for, hundreds of times per step, so a call allocates nothing, wakes
// the workers by bumping one counter (they spin briefly before sleeping on a futex), and the
// calling thread works on the range too.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace resnetc::cpu {

// Body of a parallel loop as plain C: what generated code passes. Runs [begin, end).
using RangeFn = void (*)(void* ctx, int64_t begin, int64_t end);

class ThreadPool {
 public:
  struct Options {
    // Threads that run a loop, the caller included; 0: std::thread::hardware_concurrency().
    int num_threads = 0;
    // How long an idle worker polls for the next loop before it sleeps (futex). Kernels of a
    // training step follow each other within microseconds, so a short spin saves a wake-up
    // per kernel; 0 sleeps at once (kind to other processes on a loaded machine).
    int spin_microseconds = 100;
  };

  ThreadPool();  // Options{}
  // Throws std::runtime_error when a worker thread cannot be started (thread or memory limits).
  explicit ThreadPool(Options options);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Threads that run a loop, the caller included (>= 1).
  int num_threads() const { return num_threads_; }

  // Splits [0, n) into c = min(n, num_threads()) contiguous chunks whose sizes differ by at
  // most one, runs them on the workers and the calling thread (whoever is free takes the next
  // chunk), and returns when all have finished. Every index is covered exactly once. If a chunk throws, chunks not yet started are skipped and the first
  // exception is rethrown here once the running ones are done.
  //
  // A call from inside a running chunk (nested), or n == 1, or a one-thread pool runs
  // fn(0, n) on the calling thread. Calls from several outside threads take turns.
  void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn);
  void parallel_for(int64_t n, RangeFn fn, void* ctx);

  // The process-wide pool (created on first use). RESNETC_NUM_THREADS overrides its size.
  static ThreadPool& global();

 private:
  void stop_workers();  // wakes and joins every worker
  void worker_main(int index);
  void run_chunks(uint32_t generation);
  void run_inline(int64_t n, RangeFn fn, void* ctx);

  int num_threads_ = 1;
  int spin_microseconds_ = 0;
  std::vector<std::thread> workers_;
  std::mutex submit_mutex_;  // one loop at a time from outside threads

  // The current loop. Fields are atomics (relaxed) because a worker that wakes late may read
  // them while the next loop is being published; it then fails to claim a chunk and drops them.
  std::atomic<RangeFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<int64_t> n_{0};
  // generation << 32 | chunk count << 16 | next unclaimed chunk, in one word so that a claim
  // (compare-exchange) is only ever valid for the loop the claimer meant.
  alignas(64) std::atomic<uint64_t> claim_{0};
  // Bumped once per loop; the workers wait on it.
  alignas(64) std::atomic<uint32_t> generation_{0};
  std::atomic<int> sleeping_workers_{0};
  // Chunks not yet finished in the current loop; the caller waits on it.
  alignas(64) std::atomic<uint32_t> pending_{0};
  std::atomic<bool> caller_sleeping_{false};
  std::atomic<bool> failed_{false};
  std::atomic<bool> stop_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace resnetc::cpu

// The entry point generated code calls: runs fn(ctx, begin, end) over [0, n) on `pool`
// (a resnetc::cpu::ThreadPool*, or null for ThreadPool::global()). An exception thrown by fn
// propagates out of this function, so JIT-compiled callers must pass bodies that do not throw.
extern "C" void resnetc_parallel_for(void* pool, int64_t n, void (*fn)(void* ctx, int64_t begin, int64_t end),
                                     void* ctx);
