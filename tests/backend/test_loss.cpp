// softmax_cross_entropy on the CPU backend with labels out of range: NaN, never a read outside
// the logits. (Its results against the reference executor: tests/conformance.)
#include <catch2/catch.hpp>

#include <cmath>

#include "backends/cpu/cpu_program.h"
#include "backends/cpu/plan_runner.h"
#include "tests/conformance/graphs.h"

using namespace resnetc;

TEST_CASE("backend softmax cross entropy reads no label out of range") {
  ir::Graph graph = testing::conformance::loss(3, 4);
  plan::KernelPlan plan = plan::make_plan(graph);
  codegen::llvm_backend::Jit jit;
  cpu::PlanRunner runner(plan, codegen::llvm_backend::compile_plan(jit, plan, cpu::ThreadPool::global()),
                         cpu::ThreadPool::global());
  for (float& v : runner.buffer(plan.input)) v = 0.5f;
  auto labels = runner.int_buffer(plan.labels);
  labels[0] = 1;
  labels[1] = 4;  // out of range
  labels[2] = -1;
  runner.poison_arena();
  runner.run();
  CHECK(std::isnan(runner.buffer(plan.loss)[0]));
  int grad = -1;
  for (size_t i = 0; i < plan.buffers.size(); ++i)
    if (plan.buffers[i].name == "loss.grad") grad = static_cast<int>(i);
  REQUIRE(grad >= 0);
  auto dx = runner.buffer(grad);
  for (int k = 0; k < 4; ++k) {
    CHECK(dx[static_cast<size_t>(k)] == Approx(((k == 1 ? -0.75 : 0.25)) / 3));
    CHECK(std::isnan(dx[static_cast<size_t>(4 + k)]));
    CHECK(std::isnan(dx[static_cast<size_t>(8 + k)]));
  }
}
