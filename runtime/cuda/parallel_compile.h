#pragma once

// The training plan is split into a few translation units; NVRTC compiles one program per
// thread, so they are compiled concurrently on all cores.

#include <span>
#include <vector>

#include "runtime/cuda/compile_cache.h"

namespace resnetc::cuda {

// compile_cached() for every request on up to `threads` threads (0: one per hardware thread).
// Results (and stats, when given) are in request order. When compiles fail, all are still
// finished, then the exception of the first failing request is rethrown.
std::vector<CompileResult> compile_all_cached(std::span<const CompileRequest> requests, const CacheOptions& options,
                                              std::vector<CompileStats>* stats = nullptr, unsigned threads = 0);

}  // namespace resnetc::cuda
