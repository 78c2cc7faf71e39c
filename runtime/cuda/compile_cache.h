#pragma once

// An on-disk cache of NVRTC output, so that rerunning a training plan skips the compiler.
// Entries are keyed by SHA-256 over the source, every NVRTC option (the arch included) and the
// NVRTC version; each is written atomically and verified by a checksum when read.

#include <filesystem>
#include <string>

#include "runtime/cache/cache_files.h"
#include "runtime/cuda/nvrtc.h"

namespace resnetc::cuda {

struct CacheOptions {
  std::filesystem::path dir{};  // the --cache-dir value; empty: default_cache_dir()
  bool enabled = true;        // false: always compile and never touch the disk
};

struct CompileStats {
  bool cache_hit = false;
  double milliseconds = 0.0;  // lookup plus compile, as the caller waited
};

// $XDG_CACHE_HOME/resnetc, else $HOME/.cache/resnetc: the directory every kernel cache shares.
using cache::default_cache_dir;

// Hex SHA-256 identifying what NVRTC would produce for `request`.
std::string cache_key(const CompileRequest& request);

// Where the entry for `request` lives under options.dir (or the default directory).
std::filesystem::path cache_entry_path(const CompileRequest& request, const CacheOptions& options);

// compile(request), from the cache when a valid entry exists; otherwise compiles and stores the
// result. The log is cached with the cubin, so a hit still reports warnings and ptxas info.
// A missing, torn or corrupt entry is a miss; a cache that cannot be written only costs speed.
CompileResult compile_cached(const CompileRequest& request, const CacheOptions& options,
                             CompileStats* stats = nullptr);

}  // namespace resnetc::cuda
