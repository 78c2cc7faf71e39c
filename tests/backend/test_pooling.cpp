// Pooling on the CPU backend: maxpool's tie rule (the first maximum in scan order) and NaN, and
// vectorized interiors. (Results against the reference executor: tests/conformance.)
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>

#include "backends/cpu/cpu_program.h"
#include "backends/cpu/plan_runner.h"
#include "compiler/ir/builder.h"
#include "compiler/reference/executor.h"
#include "tests/conformance/graphs.h"

using namespace resnetc;
using ir::OpKind;
using testing::conformance::window;

// Small integers make ties in most windows: the gradient must go to the first maximum in
// row-major scan order, as PyTorch and the reference do; and a NaN in a window wins.
TEST_CASE("backend maxpool_grad sends ties to the first maximum and NaN wins") {
  const ir::Dims shape{2, 3, 7, 9};
  const bool with_nan = GENERATE(false, true);
  {
    ir::Graph graph = testing::conformance::pool(OpKind::MaxPool, shape, window(3, 3, 2, 2, 1, 1));
    plan::KernelPlan plan = plan::make_plan(graph);
    codegen::llvm_backend::Jit jit;
    cpu::PlanRunner runner(plan, codegen::llvm_backend::compile_plan(jit, plan, cpu::ThreadPool::global()),
                           cpu::ThreadPool::global());
    reference::Executor reference(graph);
    std::mt19937 rng(3);
    for (size_t i = 0; i < plan.buffers.size(); ++i) {
      const plan::Buffer& buf = plan.buffers[i];
      if (buf.storage == plan::Storage::Arena) continue;
      std::vector<double> values(static_cast<size_t>(ir::numel(buf.shape)));
      for (size_t j = 0; j < values.size(); ++j) {
        float v = buf.value == graph.input ? static_cast<float>(rng() % 3) : static_cast<float>(rng() % 1000) / 100.0f;
        if (with_nan && buf.value == graph.input && j % 17 == 5) v = NAN;
        runner.buffer(static_cast<int>(i))[j] = v;
        values[j] = v;
      }
      reference.set(buf.value, std::move(values));
    }
    runner.poison_arena();
    runner.run();
    reference.run();
    for (size_t i = 0; i < plan.buffers.size(); ++i) {
      const plan::Buffer& buf = plan.buffers[i];
      if (buf.storage != plan::Storage::Arena) continue;
      const std::vector<double>& want = reference.get(buf.value);
      std::span<const float> got = runner.buffer(static_cast<int>(i));
      for (size_t j = 0; j < want.size(); ++j) {
        INFO(buf.name << "[" << j << "]: got " << got[j] << ", want " << want[j] << (with_nan ? " (with NaN)" : ""));
        if (std::isnan(want[j])) {
          CHECK(std::isnan(got[j]));
        } else {
          CHECK(std::abs(got[j] - want[j]) <= 1e-5 * std::max(1.0, std::abs(want[j])));
        }
      }
    }
  }
}

TEST_CASE("backend maxpool's interior is vectorized, forward and backward") {
  codegen::llvm_backend::Jit jit;
  auto ir_of = [&](OpKind kind) {
    ir::GraphBuilder b("pool", {3, 4, 45, 43});
    ir::Attrs a = window(3, 3, 2, 2, 1, 1);
    ir::ValueId y = b.add(OpKind::MaxPool, "pool", {b.input()}, a, {});
    if (kind == OpKind::MaxPoolGrad) {
      a.shape = b.shape(b.input());
      y = b.apply(OpKind::MaxPoolGrad, "pool.grad", {y, b.input()}, a, {});
    }
    return codegen::llvm_backend::plan_llvm_ir(jit, plan::make_plan(std::move(b).finish(y)), cpu::ThreadPool::global());
  };
  CHECK_THAT(ir_of(OpKind::MaxPool), Catch::Matchers::Contains(" x float>"));
  // The argmaxes of an interior row, stored as a vector of indices.
  CHECK_THAT(ir_of(OpKind::MaxPoolGrad), Catch::Matchers::Contains(" x i32>"));
}
