// BatchNorm statistics computed in the convolution's epilogue on the CPU backend (a bn_stats
// with epilogue=true, merged into its conv2d's plan kernel as epilogue_stats), against the
// reference executor: odd shapes (N = 3, C = 5, 7x7 and 9x9 images, 6 to 40 filters, strides
// 1 and 2, padding, bias, groups, 1x1, a 7x7 kernel whose direct GEMM rolls its classes), each
// with the GEMM as the backend picks it and with both formulations forced; a bias that dwarfs
// the spread; bit-identical results from run to run; and a whole training step after the -O2
// passes with every BatchNorm's statistics in its conv's epilogue.
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
#include "dsl/frontend.h"
#include "backends/cpu/plan_runner.h"
#include "tests/backend/kernel_harness.h"
#include "tests/conv_case.h"
#include "tests/tiny_network.h"

using namespace resnetc;
using ir::OpKind;

namespace {

using Conv = testing::ConvCase;
using testing::square_conv;

const Conv kConvs[] = {
    square_conv({3, 5, 7, 7}, 6, 3, 1, 1),                // fewer rows than a direct panel (32) or an im2col block (8)
    square_conv({3, 5, 9, 9}, 13, 3, 2, 1, 1, true),      // stride 2, bias, a row tail of 5 under im2col
    square_conv({3, 5, 9, 9}, 40, 3, 1, 1, 1, true),      // two direct row panels, five im2col row blocks
    square_conv({3, 5, 7, 7}, 40, 3, 2, 0),               // stride 2, no padding
    square_conv({3, 5, 7, 7}, 13, 1, 1, 0, 1, true),      // 1x1
    square_conv({3, 5, 9, 9}, 6, 1, 2, 0),                // 1x1 stride 2 (scattered outputs)
    square_conv({3, 10, 9, 9}, 15, 3, 1, 1, 5, true),     // 5 groups of 2 input and 3 output channels
    square_conv({3, 5, 9, 9}, 6, 7, 1, 3),                // 7x7 on 9x9: 49 position classes, the direct GEMM rolled
    square_conv({4, 16, 20, 20}, 40, 3, 1, 1, 1, true),   // many work items per row block
};

// conv -> bn_stats (epilogue=true): the statistics are the graph's output.
ir::Graph conv_stats_graph(const Conv& c) {
  ir::GraphBuilder g("conv_stats", c.x);
  const ir::ValueId y = g.add(OpKind::Conv2d, "conv", {g.input()}, c.attrs(), {});
  ir::Attrs stats;
  stats.epilogue = true;
  return std::move(g).finish(g.apply(OpKind::BnStats, "conv.stats", {y}, stats, {}));
}

// Against the reference three times: as the backend chooses, and with each WindowGemm
// formulation forced (RESNETC_CONV_PATH, read when the kernels are emitted).
void check_paths(const ir::Graph& graph) {
  for (const char* path : {"", "direct", "im2col"}) {
    if (*path) setenv("RESNETC_CONV_PATH", path, 1);
    else unsetenv("RESNETC_CONV_PATH");
    auto mismatches = testing::compare_with_reference(graph);
    unsetenv("RESNETC_CONV_PATH");
    INFO("RESNETC_CONV_PATH=" << path << ": " << testing::describe(mismatches));
    CHECK(mismatches.empty());
  }
}

codegen::llvm_backend::Jit& jit() {
  static codegen::llvm_backend::Jit instance;  // creating one costs ~100 ms
  return instance;
}

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
        runner(plan, codegen::llvm_backend::compile_plan(jit(), plan), cpu::ThreadPool::global()),
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

// The tiny network's training step after the -O2 passes (which include fuse-conv-stats).
ir::Graph training_step() {
  ir::Graph g = testing::tiny_training_graph({0.9, 5e-4});
  passes::run_pipeline(g, {});
  return g;
}

}  // namespace

TEST_CASE("conv2d computes the BatchNorm statistics of its output in its epilogue", "[backend][conv_stats]") {
  for (const Conv& c : kConvs) {
    DYNAMIC_SECTION(c.describe()) {
      const ir::Graph graph = conv_stats_graph(c);
      const plan::KernelPlan plan = plan::make_plan(graph);
      REQUIRE(plan.kernels.size() == 1);  // no bn_stats kernel: the conv's computes the statistics
      REQUIRE(plan.kernels[0].epilogue_stats >= 0);
      check_paths(graph);
    }
  }
}

// With a bias of 1000 and a spread of about 2, Q/n - mean² over the biased outputs would keep
// no digit of the variance in the float partial sums: the epilogue sums before the bias.
TEST_CASE("epilogue statistics keep the variance under a large bias", "[backend][conv_stats]") {
  const Conv c = square_conv({3, 5, 9, 9}, 13, 3, 1, 1, 1, true);
  for (const char* path : {"direct", "im2col"}) {
    DYNAMIC_SECTION(path) {
      setenv("RESNETC_CONV_PATH", path, 1);
      Run run(conv_stats_graph(c));
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
      Run run(conv_stats_graph({{4, 16, 20, 20}, 40, 3, 1, 1, 1, true}));
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
  const ir::Graph graph = std::move(g).finish(y);
  plan::KernelPlan plan = plan::make_plan(graph);
  plan.kernels.at(0).epilogue_stats = plan.kernels[0].output;
  CHECK_THROWS_AS(codegen::llvm_backend::compile_plan(jit(), plan), std::logic_error);
}

TEST_CASE("a training step with the statistics in the convs' epilogues matches the reference",
          "[backend][conv_stats]") {
  const ir::Graph g = training_step();
  size_t fused = 0;
  for (const ir::Op& op : g.ops) fused += op.kind == OpKind::BnStats && op.attrs.epilogue;
  REQUIRE(fused == 5);  // the stem, two per basic block and the shortcut's
  check_paths(g);
}
