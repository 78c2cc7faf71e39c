// BatchNorm statistics computed in the convolution's epilogue on the CPU backend (a bn_stats
// with epilogue=true, merged into its conv2d's plan kernel as epilogue_stats): the plan merges
// them; a bias that dwarfs the spread; bit-identical results from run to run; refused on any
// other kernel. (Results against the reference executor, with each GEMM formulation, and the
// training step with every statistic in an epilogue: tests/conformance.)
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "compiler/autodiff/training_graph.h"
#include "backends/cpu/cpu_program.h"
#include "compiler/ir/builder.h"
#include "compiler/passes/pass.h"
#include "compiler/reference/executor.h"
#include "backends/cpu/plan_runner.h"
#include "tests/backend/kernel_harness.h"
#include "tests/conformance/graphs.h"
#include "tests/conv_case.h"
#include "tests/tiny_network.h"

using namespace resnetc;
using ir::OpKind;

namespace {

using Conv = testing::ConvCase;
using testing::square_conv;
using testing::conformance::conv_stats;

// A plan's runner with every non-arena buffer drawn from [-1, 1] (the reference gets the same
// values), the arena poisoned.
struct Run {
  ir::Graph graph;  // the executor and the plan runner refer to it and to the plan
  plan::KernelPlan plan;
  cpu::PlanRunner runner;
  reference::Executor reference;

  explicit Run(ir::Graph g)
      : graph(std::move(g)),
        plan(plan::make_plan(graph, {.reuse_memory = false})),
        runner(plan, codegen::llvm_backend::compile_plan(testing::test_jit(), plan, cpu::ThreadPool::global()),
               cpu::ThreadPool::global()),
        reference(graph) {
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> uniform(-1, 1);
    for (size_t i = 0; i < plan.buffers.size(); ++i) {
      if (plan.buffers[i].storage == plan::Storage::Arena) continue;
      std::vector<double> values(runner.buffer(static_cast<int>(i)).size());
      for (size_t j = 0; j < values.size(); ++j) values[j] = runner.buffer(static_cast<int>(i))[j] = uniform(rng);
      reference.set(plan.buffers[i].value, std::move(values));
    }
    runner.poison_arena();
  }
  int buffer(const std::string& name) const {
    for (size_t i = 0; i < plan.buffers.size(); ++i)
      if (plan.buffers[i].name == name) return static_cast<int>(i);
    FAIL("no buffer " << name);
    return -1;
  }
};

}  // namespace

TEST_CASE("conv2d computes the BatchNorm statistics of its output in its epilogue", "[backend][conv_stats]") {
  const plan::KernelPlan plan = plan::make_plan(conv_stats(square_conv({3, 5, 9, 9}, 13, 3, 2, 1, 1, true)));
  REQUIRE(plan.kernels.size() == 1);  // no bn_stats kernel: the conv's computes the statistics
  CHECK(plan.kernels[0].epilogue_stats >= 0);
}

// With a bias of 1000 and a spread of about 2, Q/n - mean² over the biased outputs would keep
// no digit of the variance in the float partial sums: the epilogue sums before the bias.
TEST_CASE("epilogue statistics keep the variance under a large bias", "[backend][conv_stats]") {
  const Conv c = square_conv({3, 5, 9, 9}, 13, 3, 1, 1, 1, true);
  for (const char* path : {"direct", "im2col"}) {
    DYNAMIC_SECTION(path) {
      setenv("RESNETC_CONV_PATH", path, 1);
      Run run(conv_stats(c));
      unsetenv("RESNETC_CONV_PATH");
      const int bias = run.buffer("conv.bias");
      std::vector<double> values(run.runner.buffer(bias).size());
      for (size_t o = 0; o < values.size(); ++o) values[o] = run.runner.buffer(bias)[o] = 1000.0f + static_cast<float>(o);
      run.reference.set(run.plan.buffer(bias).value, std::move(values));
      run.runner.run();
      run.reference.run();
      const int stats = run.buffer("conv.stats");
      const std::vector<double>& want = run.reference.get(run.plan.buffer(stats).value);
      std::span<const float> got = run.runner.buffer(stats);
      for (size_t j = 0; j < want.size(); ++j) {
        INFO("stats[" << j << "]: got " << got[j] << ", want " << want[j]);
        CHECK(std::abs(got[j] - want[j]) <= 1e-5 * std::abs(want[j]));  // each statistic on its own scale
      }
    }
  }
}

// Each work item writes its own partial sums and the finalize adds them in a fixed order, so
// the statistics do not depend on which thread ran what.
TEST_CASE("epilogue statistics are the same bits from run to run", "[backend][conv_stats]") {
  for (const char* path : {"direct", "im2col"}) {
    DYNAMIC_SECTION(path) {
      setenv("RESNETC_CONV_PATH", path, 1);
      Run run(conv_stats({{4, 16, 20, 20}, 40, 3, 1, 1, 1, true}));
      unsetenv("RESNETC_CONV_PATH");
      const int stats = run.buffer("conv.stats");
      run.runner.run();
      const std::vector<float> first(run.runner.buffer(stats).begin(), run.runner.buffer(stats).end());
      for (int i = 0; i < 20; ++i) {
        run.runner.poison_arena();
        run.runner.run();
        REQUIRE(std::memcmp(first.data(), run.runner.buffer(stats).data(), first.size() * sizeof(float)) == 0);
      }
    }
  }
}

TEST_CASE("epilogue statistics on a kernel other than conv2d are refused", "[backend][conv_stats]") {
  ir::GraphBuilder g("relu", {3, 5, 7, 7});
  const ir::ValueId y = g.add(OpKind::Relu, "relu", {g.input()}, {}, {});
  ir::Graph graph = std::move(g).finish(y);
  passes::lower_maps(graph);  // relu's kernel: a fused map
  plan::KernelPlan plan = plan::make_plan(graph);
  plan.kernels.at(0).epilogue_stats = plan.kernels[0].output;
  CHECK_THROWS_AS(codegen::llvm_backend::compile_plan(testing::test_jit(), plan, cpu::ThreadPool::global()), std::logic_error);
}

TEST_CASE("the -O2 passes put every BatchNorm's statistics of a training step in its conv's epilogue",
          "[backend][conv_stats]") {
  ir::Graph g = testing::tiny_training_graph({0.9, 5e-4});
  passes::run_pipeline(g, {});
  size_t fused = 0;
  for (const ir::Op& op : g.ops) fused += op.kind == OpKind::BnStats && op.attrs.epilogue;
  CHECK(fused == 5);  // the stem, two per basic block and the shortcut's
}
