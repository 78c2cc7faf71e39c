// The CPU backend's kernels of the elementwise ops (fused maps at every level) are vectorized and
// parallel. (Their results against the reference executor: tests/conformance.)
#include <catch2/catch.hpp>

#include <string>

#include "backends/cpu/cpu_program.h"
#include "compiler/passes/pass.h"
#include "compiler/plan/kernel_plan.h"
#include "tests/conformance/graphs.h"

using namespace resnetc;

namespace {

// The optimized IR of a graph's kernels, the elementwise ops lowered as every level does.
std::string optimized_ir(ir::Graph graph) {
  static codegen::llvm_backend::Jit jit;
  passes::lower_maps(graph);
  return codegen::llvm_backend::plan_llvm_ir(jit, plan::make_plan(graph), cpu::ThreadPool::global());
}

std::string widest_float_vector() {
  static codegen::llvm_backend::Jit jit;
  return jit.has_feature("avx512f") ? "<16 x float>" : jit.has_feature("avx") ? "<8 x float>" : "<4 x float>";
}

}  // namespace

TEST_CASE("backend relu, add and relu_grad are vectorized") {
  const std::string ir = optimized_ir(testing::conformance::relu_add({3, 5, 37, 41}));
  CHECK_THAT(ir, Catch::Matchers::Contains(widest_float_vector()));
  CHECK_THAT(ir, Catch::Matchers::Contains("resnetc_parallel_for"));
}
