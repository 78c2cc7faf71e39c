// The CPU backend's elementwise kernels are vectorized and parallel. (Their results against the
// reference executor: tests/conformance.)
#include <catch2/catch.hpp>

#include <string>

#include "backends/cpu/cpu_program.h"
#include "compiler/plan/kernel_plan.h"
#include "tests/conformance/graphs.h"

using namespace resnetc;

namespace {

// The optimized IR of a graph's kernels.
std::string optimized_ir(const ir::Graph& graph) {
  static codegen::llvm_backend::Jit jit;
  return codegen::llvm_backend::plan_llvm_ir(jit, plan::make_plan(graph), cpu::ThreadPool::global());
}

std::string widest_float_vector() {
  static codegen::llvm_backend::Jit jit;
  return jit.has_feature("avx512f") ? "<16 x float>" : jit.has_feature("avx") ? "<8 x float>" : "<4 x float>";
}

}  // namespace

TEST_CASE("backend relu is vectorized") {
  const std::string ir = optimized_ir(testing::conformance::relu_add({3, 5, 37, 41}));
  CHECK_THAT(ir, Catch::Matchers::Contains(widest_float_vector()));
  CHECK_THAT(ir, Catch::Matchers::Contains("resnetc_parallel_for"));
}
