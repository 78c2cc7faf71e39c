#include <catch2/catch.hpp>

#include <stdlib.h>

#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "runtime/cuda/compile_cache.h"
#include "temp_dir.h"
#include "test_kernels.h"

using namespace resnetc::cuda;
using resnetc::cuda::test::TempDir;

namespace {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::size_t file_count(const std::filesystem::path& dir) {
  return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(dir), {}));
}

// Sets an environment variable for one scope.
class ScopedEnv {
public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) {
      old_ = old;
    }
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("the second compile is a cache hit with identical bytes and log", "[cuda][cache]") {
  TempDir dir;
  const CacheOptions options{.dir = dir.path()};
  const CompileRequest request{.source = test::kScaleKernel, .ptxas_verbose = true};

  CompileStats first;
  const CompileResult compiled = compile_cached(request, options, &first);
  CHECK_FALSE(first.cache_hit);
  CHECK(std::filesystem::exists(cache_entry_path(request, options)));
  CHECK(file_count(dir.path()) == 1);  // no temporary file left behind

  CompileStats second;
  const CompileResult cached = compile_cached(request, options, &second);
  CHECK(second.cache_hit);
  CHECK(cached.cubin == compiled.cubin);
  CHECK(cached.log == compiled.log);
  CHECK_FALSE(cached.log.empty());  // the ptxas report survives the cache
  WARN("compile " << first.milliseconds << " ms, cache hit " << second.milliseconds << " ms");
}

TEST_CASE("a changed option, source, arch or name is a miss", "[cuda][cache]") {
  TempDir dir;
  const CacheOptions options{.dir = dir.path()};
  const CompileRequest base{.source = test::kScaleKernel};
  compile_cached(base, options);

  CompileRequest option = base;
  option.options.push_back("--use_fast_math");
  CompileRequest source = base;
  source.source += "\n// another plan\n";
  CompileRequest arch = base;
  arch.arch = "sm_80";
  CompileRequest name = base;
  name.name = "other.cu";
  for (const CompileRequest& changed : {option, source, arch, name}) {
    CHECK(cache_key(changed) != cache_key(base));
    CompileStats stats;
    compile_cached(changed, options, &stats);
    CHECK_FALSE(stats.cache_hit);
  }
  CompileStats stats;
  compile_cached(base, options, &stats);
  CHECK(stats.cache_hit);
}

TEST_CASE("a corrupt entry is recompiled, not trusted", "[cuda][cache]") {
  TempDir dir;
  const CacheOptions options{.dir = dir.path()};
  const CompileRequest request{.source = test::kScaleKernel};
  const CompileResult good = compile_cached(request, options);
  const std::filesystem::path entry = cache_entry_path(request, options);
  const std::string intact = read_all(entry);

  std::string flipped = intact;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x40);
  std::string bad_magic = intact;
  bad_magic[0] = 'X';
  const std::string corruptions[] = {
      "",                                         // empty file
      intact.substr(0, intact.size() / 2),        // torn write
      intact + "trailing",                        // wrong size
      flipped,                                    // bit flip in the cubin
      bad_magic,                                  // not an entry
      std::string(intact.size(), '\0'),           // zeros
  };
  for (const std::string& corrupt : corruptions) {
    write_all(entry, corrupt);
    CompileStats stats;
    const CompileResult recompiled = compile_cached(request, options, &stats);
    CHECK_FALSE(stats.cache_hit);
    CHECK(recompiled.cubin == good.cubin);
    CHECK(read_all(entry) == intact);  // the entry is rewritten

    compile_cached(request, options, &stats);
    CHECK(stats.cache_hit);
  }
}

TEST_CASE("a disabled cache compiles and writes nothing", "[cuda][cache]") {
  TempDir dir;
  const CacheOptions options{.dir = dir.path(), .enabled = false};
  const CompileRequest request{.source = test::kScaleKernel};
  CompileStats stats;
  compile_cached(request, options, &stats);
  compile_cached(request, options, &stats);
  CHECK_FALSE(stats.cache_hit);
  CHECK(file_count(dir.path()) == 0);
}

TEST_CASE("an unwritable cache directory only costs the cache", "[cuda][cache]") {
  TempDir dir;
  const std::filesystem::path blocker = dir.path() / "not-a-dir";
  write_all(blocker, "a file where the cache directory should be");
  const CacheOptions options{.dir = blocker / "cache"};
  CompileStats stats;
  const CompileResult result = compile_cached(CompileRequest{.source = test::kScaleKernel}, options, &stats);
  CHECK_FALSE(stats.cache_hit);
  CHECK_FALSE(result.cubin.empty());
}

TEST_CASE("errors are not cached", "[cuda][cache]") {
  TempDir dir;
  const CacheOptions options{.dir = dir.path()};
  const CompileRequest request{.source = test::kSyntaxErrorKernel};
  CHECK_THROWS_AS(compile_cached(request, options), NvrtcError);
  CHECK_THROWS_AS(compile_cached(request, options), NvrtcError);
  CHECK(file_count(dir.path()) == 0);
}

TEST_CASE("the default cache directory follows XDG_CACHE_HOME, then HOME", "[cuda][cache]") {
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/xdg/cache");
    CHECK(default_cache_dir() == std::filesystem::path("/xdg/cache/resnetc"));
  }
  ScopedEnv xdg("XDG_CACHE_HOME", nullptr);
  ScopedEnv home("HOME", "/home/someone");
  CHECK(default_cache_dir() == std::filesystem::path("/home/someone/.cache/resnetc"));
  CHECK(cache_entry_path(CompileRequest{}, CacheOptions{}).parent_path() == default_cache_dir());
}
