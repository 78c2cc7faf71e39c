// BatchNorm's kernels on the CPU backend against the reference executor: inference
// (running statistics), the training forward (bn_stats, bn_apply) and backward
// (bn_grad_weight, bn_grad_input), inline and on the thread pool, and the statistics of
// activations whose mean dwarfs their spread.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>

#include "backends/cpu/cpu_program.h"
#include "compiler/ir/builder.h"
#include "compiler/reference/executor.h"
#include "backends/cpu/plan_runner.h"
#include "tests/backend/check_reference.h"

using namespace resnetc;
using testing::check;
using ir::OpKind;
using ir::ValueRole;

namespace {

std::string widest_float_vector(codegen::llvm_backend::Jit& jit) {
  return jit.has_feature("avx512f") ? "<16 x float>" : jit.has_feature("avx") ? "<8 x float>" : "<4 x float>";
}

ir::Graph inference_graph(const ir::Dims& shape, double eps = 1e-5) {
  ir::GraphBuilder b("bn", shape);
  ir::Attrs a;
  a.eps = eps;
  ir::ValueId y = b.add(OpKind::BatchNorm, "bn", {b.input()}, a, {});
  return std::move(b).finish(y);
}

// x -> bn_stats -> bn_apply, the running statistics updated; dy -> bn_grad_weight, bn_grad_input.
ir::Graph training_graph(const ir::Dims& shape, double eps = 1e-5) {
  const ir::Dims channel{shape[1]};
  ir::GraphBuilder b("bn_train", shape);
  ir::Attrs a;
  a.eps = eps;
  ir::ValueId weight = b.add_value("bn.weight", channel, ValueRole::Parameter);
  ir::ValueId bias = b.add_value("bn.bias", channel, ValueRole::Parameter);
  ir::ValueId stats = b.apply(OpKind::BnStats, "bn.stats", {b.input()}, {}, {});
  ir::ValueId y = b.apply(OpKind::BnApply, "bn.apply", {b.input(), stats, weight, bias}, a, {});
  ir::ValueId dy = b.add_value("dy", shape, ValueRole::Input);
  b.apply(OpKind::BnGradWeight, "bn.grad_weight", {dy, b.input(), stats}, a, {});
  b.apply(OpKind::BnGradInput, "bn.grad_input", {dy, b.input(), stats, weight}, a, {});
  ir::ValueId running_mean = b.add_value("bn.running_mean", channel, ValueRole::State);
  ir::ValueId running_var = b.add_value("bn.running_var", channel, ValueRole::State);
  ir::Attrs update;
  update.shape = shape;
  b.apply(OpKind::BnRunningUpdate, "bn.running_update", {running_mean, running_var, stats}, update, {});
  return std::move(b).finish(y);
}

}  // namespace

TEST_CASE("backend batchnorm (running statistics) matches the reference") {
  SECTION("small, inline") { check(inference_graph({3, 3, 5, 7})); }
  SECTION("large, on the thread pool") { check(inference_graph({3, 6, 41, 37})); }
  SECTION("1x1 planes, another eps") { check(inference_graph({5, 4, 1, 1}, 1e-3)); }
}

TEST_CASE("backend training BatchNorm matches the reference") {
  SECTION("small, inline") { check(training_graph({3, 3, 5, 7})); }
  SECTION("large, on the thread pool") { check(training_graph({3, 6, 41, 37})); }
  SECTION("1x1 planes, another eps") { check(training_graph({5, 4, 1, 1}, 1e-3)); }
  SECTION("one sample") { check(training_graph({1, 5, 3, 7})); }
  SECTION("scaled inputs") {
    testing::HarnessOptions options;
    options.input_scale = 20;
    check(training_graph({3, 3, 5, 7}), options);
  }
}

// The variance of activations with a large mean: E[x^2] - E[x]^2 in float would keep no digit.
// (Only the statistics: bn_apply cannot do better than the float mean it is given.)
TEST_CASE("backend bn_stats keeps the variance of activations with a large mean") {
  const ir::Dims shape{4, 3, 13, 11};
  ir::Graph graph = training_graph(shape);
  plan::KernelPlan plan = plan::make_plan(graph);
  codegen::llvm_backend::Jit jit;
  cpu::PlanRunner runner(plan, codegen::llvm_backend::compile_plan(jit, plan), cpu::ThreadPool::global());
  reference::Executor reference(graph);
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  const double means[3] = {1000.0, -3e4, 0.5};
  const double spreads[3] = {0.25, 2.0, 1e-3};
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const plan::Buffer& buf = plan.buffers[i];
    if (buf.storage == plan::Storage::Arena) continue;
    std::vector<double> values(static_cast<size_t>(ir::numel(buf.shape)));
    for (size_t j = 0; j < values.size(); ++j) {
      float v = noise(rng);
      if (buf.value == graph.input) {
        const size_t c = (j / static_cast<size_t>(shape[2] * shape[3])) % 3;
        v = static_cast<float>(means[c] + spreads[c] * v);
      } else if (buf.name.ends_with("running_var")) {
        v = std::abs(v) + 0.1f;
      }
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
    if (buf.name != "bn.stats") continue;
    const std::vector<double>& want = reference.get(buf.value);
    std::span<const float> got = runner.buffer(static_cast<int>(i));
    for (size_t j = 0; j < want.size(); ++j) {
      INFO(buf.name << "[" << j << "]: got " << got[j] << ", want " << want[j]);
      // Each statistic on its own scale (the mean row would hide the variance row).
      CHECK(std::abs(got[j] - want[j]) <= 1e-4 * std::abs(want[j]));
    }
  }
}

TEST_CASE("backend BatchNorm kernels are vectorized") {
  codegen::llvm_backend::Jit jit;
  const std::string ir = codegen::llvm_backend::plan_llvm_ir(jit, plan::make_plan(training_graph({3, 6, 41, 37})));
  CHECK_THAT(ir, Catch::Matchers::Contains(widest_float_vector(jit)));
  CHECK_THAT(ir, Catch::Matchers::Contains("x double>"));  // the reductions, in double lanes
}
