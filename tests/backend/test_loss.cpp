// softmax_cross_entropy and its gradient on the CPU backend against the reference executor,
// with int32 labels in a float buffer; large logits (stability) and labels out of range.
#include <catch2/catch.hpp>

#include <cmath>

#include "backends/cpu/cpu_program.h"
#include "compiler/ir/builder.h"
#include "backends/cpu/plan_runner.h"
#include "tests/backend/check_reference.h"

using namespace resnetc;
using testing::check;
using ir::OpKind;
using ir::ValueRole;

namespace {

// logits [N, K] (the graph's output, so the harness draws labels in [0, K)) -> loss, grad.
ir::Graph loss_graph(int64_t batch, int64_t classes) {
  ir::GraphBuilder b("loss", {batch, classes});
  ir::ValueId labels = b.add_value("labels", {batch}, ValueRole::Input, ir::DType::I32);
  ir::ValueId loss = b.apply(OpKind::SoftmaxCrossEntropy, "loss", {b.input(), labels}, {}, {});
  b.apply(OpKind::SoftmaxCrossEntropyGrad, "loss.grad", {b.input(), labels}, {}, {});
  ir::Graph g = std::move(b).finish(b.input());
  g.labels = labels;
  g.loss = loss;
  return g;
}

}  // namespace

TEST_CASE("backend softmax cross entropy and its gradient match the reference") {
  SECTION("3 x 5") { check(loss_graph(3, 5)); }
  SECTION("7 x 10") { check(loss_graph(7, 10)); }
  SECTION("one sample, one class") { check(loss_graph(1, 1)); }
  SECTION("33 x 1000") { check(loss_graph(33, 1000)); }
  SECTION("large logits stay finite") {
    testing::HarnessOptions options;
    options.input_scale = 300;
    check(loss_graph(5, 7), options);
  }
}

TEST_CASE("backend softmax cross entropy reads no label out of range") {
  ir::Graph graph = loss_graph(3, 4);
  plan::KernelPlan plan = plan::make_plan(graph);
  codegen::llvm_backend::Jit jit;
  cpu::PlanRunner runner(plan, codegen::llvm_backend::compile_plan(jit, plan), cpu::ThreadPool::global());
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
