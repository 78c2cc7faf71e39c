// BatchNorm's kernels on the CPU backend: the statistics of activations whose mean dwarfs their
// spread, and vectorized kernels. (Their results against the reference executor:
// tests/conformance.)
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>

#include "backends/cpu/cpu_program.h"
#include "backends/cpu/plan_runner.h"
#include "compiler/reference/executor.h"
#include "tests/conformance/graphs.h"

using namespace resnetc;
using testing::conformance::batchnorm_training;

namespace {

std::string widest_float_vector(codegen::llvm_backend::Jit& jit) {
  return jit.has_feature("avx512f") ? "<16 x float>" : jit.has_feature("avx") ? "<8 x float>" : "<4 x float>";
}

}  // namespace

// The variance of activations with a large mean: E[x^2] - E[x]^2 in float would keep no digit.
// (Only the statistics: bn_apply cannot do better than the float mean it is given.)
TEST_CASE("backend bn_stats keeps the variance of activations with a large mean") {
  const ir::Dims shape{4, 3, 13, 11};
  ir::Graph graph = batchnorm_training(shape);
  plan::KernelPlan plan = plan::make_plan(graph);
  codegen::llvm_backend::Jit jit;
  cpu::PlanRunner runner(plan, codegen::llvm_backend::compile_plan(jit, plan, cpu::ThreadPool::global()),
                         cpu::ThreadPool::global());
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
  const std::string ir = codegen::llvm_backend::plan_llvm_ir(jit, plan::make_plan(batchnorm_training({3, 6, 41, 37})),
                                                              cpu::ThreadPool::global());
  CHECK_THAT(ir, Catch::Matchers::Contains(widest_float_vector(jit)));
  CHECK_THAT(ir, Catch::Matchers::Contains("x double>"));  // the reductions, in double lanes
}
