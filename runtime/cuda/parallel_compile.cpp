#include "runtime/cuda/parallel_compile.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>

namespace resnetc::cuda {

std::vector<CompileResult> compile_all_cached(std::span<const CompileRequest> requests, const CacheOptions& options,
                                              std::vector<CompileStats>* stats, unsigned threads) {
  std::vector<CompileResult> results(requests.size());
  std::vector<CompileStats> local_stats(requests.size());
  std::vector<std::exception_ptr> errors(requests.size());

  // Workers take the next request index until none is left; each slot is written by one worker.
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < requests.size(); i = next++) {
      try {
        results[i] = compile_cached(requests[i], options, &local_stats[i]);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  };
  if (threads == 0) {
    threads = std::max(1u, std::thread::hardware_concurrency());
  }
  {
    std::vector<std::jthread> workers;
    const std::size_t count = std::min<std::size_t>(threads, requests.size());
    for (std::size_t t = 1; t < count; ++t) {
      workers.emplace_back(work);
    }
    work();  // the calling thread is one of the workers
  }

  for (const std::exception_ptr& error : errors) {
    if (error) {
      std::rethrow_exception(error);
    }
  }
  if (stats != nullptr) {
    *stats = std::move(local_stats);
  }
  return results;
}

}  // namespace resnetc::cuda
