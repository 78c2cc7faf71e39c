// Fused elementwise programs on the CPU backend: a view off alignment is read as such, the
// kernels are vectorized with the channel's registers hoisted, and a view is never a kernel.
// (Every program's results against the reference executor: tests/conformance.)
#include <catch2/catch.hpp>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <stdexcept>
#include <string>

#include "backends/cpu/cpu_program.h"
#include "compiler/codegen/llvm/kernel_emitter.h"
#include "compiler/passes/pass.h"
#include "tests/conformance/graphs.h"

using namespace resnetc;
using ir::OpKind;
using testing::conformance::fused_bn_apply_add_relu;
using testing::conformance::fused_bn_backward;
using testing::conformance::fused_unaligned_view;

namespace {

std::string widest_float_vector(codegen::llvm_backend::Jit& jit) {
  return jit.has_feature("avx512f") ? "<16 x float>" : jit.has_feature("avx") ? "<8 x float>" : "<4 x float>";
}

}  // namespace

TEST_CASE("backend fused map over an unaligned view promises only its 4-byte alignment") {
  // The kernel reading the view promises only the view's 4-byte alignment, not 64.
  plan::KernelPlan plan = plan::make_plan(fused_unaligned_view({3, 5, 7, 7}));
  REQUIRE(plan.kernels.size() == 2);
  llvm::LLVMContext context;
  llvm::Module module("view", context);
  codegen::llvm_backend::emit_kernel(module, plan, 1, "twice", {});
  CHECK(module.getFunction("twice")->getParamAlign(0).valueOrOne().value() == 4);
  CHECK(module.getFunction("twice")->getParamAlign(1).valueOrOne().value() == 64);
}

TEST_CASE("backend fused kernels are vectorized, the channel's registers hoisted") {
  codegen::llvm_backend::Jit jit;
  for (bool reduce : {false, true}) {
    ir::Graph graph = reduce ? fused_bn_backward({4, 6, 41, 37}, true) : fused_bn_apply_add_relu({3, 6, 41, 37});
    passes::lower_maps(graph);  // the relu that makes the backward's input a relu's output
    const std::string ir = codegen::llvm_backend::plan_llvm_ir(jit, plan::make_plan(graph), cpu::ThreadPool::global());
    CHECK_THAT(ir, Catch::Matchers::Contains(widest_float_vector(jit)));
    // 1/sqrt(var + eps) once per plane or channel, in double; never per element.
    CHECK_THAT(ir, Catch::Matchers::Contains("@llvm.sqrt.f64"));
    CHECK_THAT(ir, !Catch::Matchers::Contains("@llvm.sqrt.v"));
    CHECK_THAT(ir, !Catch::Matchers::Contains("@llvm.sqrt.f32"));
  }
}

TEST_CASE("backend refuses to emit a view as a kernel") {
  ir::Graph graph = fused_unaligned_view({3, 5, 7, 7});
  plan::KernelPlan plan = plan::make_plan(graph);
  const ir::Op& view = graph.ops.at(1);
  REQUIRE(view.kind == OpKind::View);
  plan::Kernel kernel;
  kernel.name = view.name;
  kernel.kind = view.kind;
  kernel.inputs = {view.inputs[0]};
  kernel.output = view.output;
  plan.kernels.push_back(kernel);
  llvm::LLVMContext context;
  llvm::Module module("view", context);
  CHECK_THROWS_AS(codegen::llvm_backend::emit_kernel(module, plan, plan.kernels.size() - 1, "view", {}),
                  std::logic_error);
}
