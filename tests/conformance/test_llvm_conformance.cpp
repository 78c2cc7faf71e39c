// Every conformance case (cases.h) on the LLVM CPU backend against the double-precision
// reference executor, one graph at a time; the cases with convolutions also with each GEMM
// formulation of conv2d and conv2d_grad_input forced (RESNETC_CONV_PATH, read when the kernels
// are emitted): rows in lanes ("direct") and columns in lanes ("im2col").
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <cstdlib>
#include <vector>

#include "compiler/codegen/llvm/kernel_emitter.h"
#include "compiler/plan/kernel_plan.h"
#include "tests/backend/kernel_harness.h"
#include "tests/conformance/cases.h"
#include "tests/conformance/graphs.h"
#include "tests/conformance/skeleton_check.h"

using namespace resnetc;
using testing::conformance::Case;

namespace {

bool has_conv_path(const ir::Graph& g) {
  for (const ir::Op& op : g.ops)
    if (op.kind == ir::OpKind::Conv2d || op.kind == ir::OpKind::ConvGradInput) return true;
  return false;
}

}  // namespace

TEST_CASE("the LLVM CPU backend matches the reference executor on every conformance case", "[conformance][cpu]") {
  for (const Case& c : testing::conformance::cases()) {
    DYNAMIC_SECTION(c.name) {
      const ir::Graph graph = testing::conformance::backend_graph(c);
      testing::HarnessOptions options;
      options.tolerance = c.tolerance;
      options.input_scale = c.input_scale;
      options.positive_inputs = c.positive_inputs;
      options.batchnorm_near_identity = c.batchnorm_near_identity;
      std::vector<const char*> paths{""};
      if (c.gemm && has_conv_path(graph)) paths = {"", "direct", "im2col"};
      for (const char* path : paths) {
        if (*path) setenv("RESNETC_CONV_PATH", path, 1);
        const auto mismatches = testing::compare_with_reference(graph, options);
        unsetenv("RESNETC_CONV_PATH");
        INFO("RESNETC_CONV_PATH=" << path << ": " << testing::describe(mismatches));
        CHECK(mismatches.empty());
      }
    }
  }
}

TEST_CASE("the LLVM CPU backend emits every kind whose skeleton has a kernel, and only those", "[conformance][cpu]") {
  testing::conformance::check_kernel_skeletons(
      [](const plan::KernelPlan& plan) {
        llvm::LLVMContext context;
        llvm::Module module("skeletons", context);
        for (size_t i = 0; i < plan.kernels.size(); ++i)
          codegen::llvm_backend::emit_kernel(module, plan, i, fmt::format("k{}", i), {});
      },
      [](const plan::Kernel& k) { return fmt::format("no kernel for {}", ir::op_kind_name(k.kind)); });
}
