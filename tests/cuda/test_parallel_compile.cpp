#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "runtime/cuda/parallel_compile.h"
#include "temp_dir.h"
#include "test_kernels.h"

using namespace resnetc::cuda;
using resnetc::cuda::test::TempDir;

namespace {

// Distinct units, as the plan splitter would produce them.
std::vector<CompileRequest> units(int count) {
  std::vector<CompileRequest> requests;
  for (int i = 0; i < count; ++i) {
    requests.push_back({.name = "unit" + std::to_string(i) + ".cu",
                        .source = std::string(test::kScaleKernel) + "// unit " + std::to_string(i) + "\n"});
  }
  return requests;
}

}  // namespace

TEST_CASE("translation units compile in parallel, results in request order", "[cuda][cache]") {
  TempDir dir;
  const CacheOptions options{.dir = dir.path()};
  const std::vector<CompileRequest> requests = units(4);

  std::vector<CompileStats> stats;
  const std::vector<CompileResult> results = compile_all_cached(requests, options, &stats, 3);
  REQUIRE(results.size() == requests.size());
  REQUIRE(stats.size() == requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    CHECK_FALSE(stats[i].cache_hit);
    CHECK(results[i].cubin == compile(requests[i]).cubin);
  }

  const std::vector<CompileResult> again = compile_all_cached(requests, options, &stats);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    CHECK(stats[i].cache_hit);
    CHECK(again[i].cubin == results[i].cubin);
  }
}

TEST_CASE("the first failing unit's error is rethrown after all finish", "[cuda][cache]") {
  TempDir dir;
  const CacheOptions options{.dir = dir.path()};
  std::vector<CompileRequest> requests = units(4);
  requests[1].source = test::kSyntaxErrorKernel;
  requests[3].source = test::kSyntaxErrorKernel;
  CHECK_THROWS_WITH(compile_all_cached(requests, options), Catch::Contains("unit1.cu"));

  // The units that compiled were cached all the same.
  std::vector<CompileStats> stats;
  compile_all_cached(std::span(requests).first(1), options, &stats);
  CHECK(stats[0].cache_hit);
}

TEST_CASE("no requests, no work", "[cuda][cache]") {
  std::vector<CompileStats> stats(3);
  CHECK(compile_all_cached({}, CacheOptions{.enabled = false}, &stats).empty());
  CHECK(stats.empty());
}
