// BatchNorm statistics computed in the convolution's epilogue (a bn_stats with epilogue=true,
// merged into its conv2d's plan kernel) in the CUDA emitter: which launches compute them, unsplit
// and with K split, shared kernels, and what is refused. (Their results under emulation, with
// every tile configuration, FMA and TF32 mma.sync and K split: tests/conformance.)
#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <stdexcept>
#include <string>

#include "compiler/codegen/cuda/cuda_emitter.h"
#include "compiler/ir/builder.h"
#include "compiler/plan/kernel_plan.h"
#include "tests/conv_case.h"
#include "tests/cuda_codegen/emulation_test.h"

using namespace resnetc;
using ir::OpKind;

namespace {

using Conv = testing::ConvCase;
using testing::square_conv;

// M = N*OH*OW rows of 12 (the 16-row tiles), 27 (32 rows), 48 to 243 (64 or 128), and 6 to 70
// columns (16-column tiles for N <= 16, two 64-column tiles for 70).
const Conv kConvs[] = {
    square_conv({3, 5, 7, 7}, 6, 3, 1, 1),                // M = 147, N = 6, K = 45
    square_conv({3, 5, 9, 9}, 13, 3, 2, 1, 1, true),      // stride 2, bias
    square_conv({3, 5, 9, 9}, 70, 3, 1, 1, 1, true),      // M = 243, two column tiles
    square_conv({3, 5, 7, 7}, 70, 3, 3, 0),               // M = 12
    square_conv({3, 5, 7, 7}, 20, 3, 2, 0, 1, true),      // M = 27
    square_conv({3, 5, 7, 7}, 13, 1, 2, 0),               // 1x1 stride 2, K = 5: never split
    square_conv({3, 10, 9, 9}, 15, 3, 1, 1, 5, true),     // 5 groups of 2 input and 3 output channels
};

ir::Graph conv_stats_graph() {
  ir::GraphBuilder g("conv_stats", kConvs[0].x);
  ir::ValueId y = ir::kNoValue;
  int i = 0;
  for (const Conv& c : kConvs) {
    const std::string name = "conv" + std::to_string(i);
    const ir::ValueId x = i++ == 0 ? g.input() : g.add_value(name + ".x", c.x, ir::ValueRole::Input);
    y = g.add(OpKind::Conv2d, name, {x}, c.attrs(), {});
    ir::Attrs stats;
    stats.epilogue = true;
    g.apply(OpKind::BnStats, name + ".stats", {y}, stats, {});
  }
  return std::move(g).finish(y);
}

// How many launches run a kernel whose name starts with `family` followed by its number.
size_t launches_of(const codegen::cuda::CudaProgram& program, const std::string& family) {
  size_t n = 0;
  for (const codegen::cuda::CudaLaunch& l : program.launches)
    n += l.kernel.starts_with(family + "_") && std::isdigit(static_cast<unsigned char>(l.kernel[family.size() + 1]));
  return n;
}

}  // namespace

TEST_CASE("epilogue statistics replace the bn_stats kernels", "[cuda][conv_stats]") {
  const plan::KernelPlan plan = plan::make_plan(conv_stats_graph());
  REQUIRE(plan.kernels.size() == std::size(kConvs));
  for (const plan::Kernel& k : plan.kernels) REQUIRE(k.epilogue_stats >= 0);
  const size_t convs = std::size(kConvs);

  SECTION("unsplit: a finalize launch per conv, reading the tiles' partial sums from the workspace") {
    const codegen::cuda::CudaProgram program = codegen::cuda::emit_cuda(plan, {});
    CHECK(launches_of(program, "conv_fwd") == convs);
    CHECK(launches_of(program, "conv_fwd_stats") == convs);
    CHECK(launches_of(program, "bn_stats") == 0);
    CHECK(program.launches.size() == 2 * convs);
    CHECK(program.workspace_bytes > 0);
    for (const codegen::cuda::CudaLaunch& l : program.launches) {  // the finalize writes the statistics
      const int stats = plan.kernels[static_cast<size_t>(l.plan_kernel)].epilogue_stats;
      CHECK(std::count(l.buffers.begin(), l.buffers.end(), stats) == (l.kernel.starts_with("conv_fwd_stats") ? 1 : 0));
    }
  }
  SECTION("K split: the splits' sum computes them (but for the 1x1 and the grouped conv: K = 5, 18, not split)") {
    codegen::cuda::CudaOptions o = testing::split_everything({}).cuda;
    o.min_reduce_chunk = 1 << 20;  // one block per channel: no chunk sums
    const codegen::cuda::CudaProgram program = codegen::cuda::emit_cuda(plan, o);
    CHECK(launches_of(program, "conv_fwd_sum_stats") == convs - 2);
    CHECK(launches_of(program, "conv_fwd_stats") == 2);
    CHECK(launches_of(program, "conv_fwd_sum") == 0);
  }
  SECTION("repeated convs with statistics share their two kernels; one without them has its own") {
    ir::GraphBuilder g("twice", {3, 5, 7, 7});
    ir::Attrs a;
    a.out_channels = 6;
    a.kernel[0] = a.kernel[1] = 3;
    a.padding[0] = a.padding[1] = 1;
    ir::Attrs stats;
    stats.epilogue = true;
    const ir::ValueId y0 = g.add(OpKind::Conv2d, "a", {g.input()}, a, {});
    g.apply(OpKind::BnStats, "a.stats", {y0}, stats, {});
    const ir::ValueId y1 = g.add(OpKind::Conv2d, "b", {g.add_value("b.x", {3, 5, 7, 7}, ir::ValueRole::Input)}, a, {});
    g.apply(OpKind::BnStats, "b.stats", {y1}, stats, {});
    const ir::ValueId y2 = g.add(OpKind::Conv2d, "c", {g.add_value("c.x", {3, 5, 7, 7}, ir::ValueRole::Input)}, a, {});
    const codegen::cuda::CudaProgram program = codegen::cuda::emit_cuda(plan::make_plan(std::move(g).finish(y2)), {});
    CHECK(program.launches.size() == 5);
    CHECK(program.unique_kernels == 3);  // conv with statistics, their finalize, conv without
  }
  SECTION("statistics on a kernel other than a conv2d, or of the wrong shape, are refused") {
    plan::KernelPlan wrong = plan;
    wrong.kernels[0].epilogue_stats = wrong.kernels[0].inputs[0];  // conv0's input: [3, 5, 7, 7]
    CHECK_THROWS_AS(codegen::cuda::emit_cuda(wrong), std::invalid_argument);
    wrong = plan;
    wrong.kernels[0].kind = OpKind::MaxPool;  // a kernel the emitter has, but no conv2d
    CHECK_THROWS_AS(codegen::cuda::emit_cuda(wrong), std::invalid_argument);
  }
}
