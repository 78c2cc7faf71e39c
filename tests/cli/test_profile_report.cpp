// `resnetc bench --profile`'s arithmetic: MACs per kernel agree with the layer table's, and the
// report orders kernels by time with the rates that follow from the times given.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <vector>

#include "compiler/plan/kernel_plan.h"
#include "tests/tiny_network.h"
#include "tools/resnetc/profile_report.h"

using namespace resnetc;

TEST_CASE("a training plan's convolution and fc kernels do three times the forward graph's MACs") {
  dsl::SourceManager sources;
  const ir::Graph forward =
      dsl::compile_source(sources, "t.net", testing::kTinyNetwork, {std::nullopt, 3}).graph;
  int64_t forward_macs = 0;
  for (const ir::Op& op : forward.ops) forward_macs += ir::op_macs(forward, op);
  const plan::KernelPlan plan = plan::make_plan(testing::tiny_training_graph({0.9, 5e-4}));
  int64_t plan_macs = 0, gradient_macs = 0;
  for (const plan::Kernel& k : plan.kernels) {
    const int64_t macs = plan::kernel_macs(plan, k);
    plan_macs += macs;
    if (k.name.ends_with(".grad_input") || k.name.ends_with(".grad_weight")) gradient_macs += macs;
  }
  REQUIRE(forward_macs > 0);
  // The stem's data gradient is not computed (nothing needs the input's gradient).
  const int64_t stem_macs = 3 * 5 * 9 * 7 * 2 * 3 * 3;
  CHECK(plan_macs == 3 * forward_macs - stem_macs);
  CHECK(gradient_macs == 2 * forward_macs - stem_macs);
}

TEST_CASE("the profile lists the slowest kernels first with their share, GFLOP/s and GB/s") {
  const plan::KernelPlan plan = plan::make_plan(testing::tiny_training_graph({0.9, 5e-4}));
  std::vector<double> seconds(plan.kernels.size(), 0.001);
  size_t conv = 0;
  while (plan.kernels[conv].kind != ir::OpKind::Conv2d) ++conv;
  seconds[conv] = 2.0;  // over 2 steps: 1 s per step
  const std::string report = cli::format_profile(plan, seconds, 2, 3);
  INFO(report);
  const double step = 1.0 + 0.0005 * static_cast<double>(plan.kernels.size() - 1);
  const plan::Kernel& k = plan.kernels[conv];
  const std::string first =
      fmt::format("  {:9.3f} {:6.1f}% {:>9} {:>8}  {:<26} {}\n", 1000.0, 100.0 / step,
                  fmt::format("{:.1f}", 2.0 * static_cast<double>(plan::kernel_macs(plan, k)) / 1e9),
                  fmt::format("{:.1f}", static_cast<double>(plan::bytes_moved(plan, k)) / 1e9), "conv2d", k.name);
  const size_t header = report.find('\n', report.find('\n') + 1) + 1;
  CHECK(report.substr(header, first.size()) == first);
  CHECK(report.starts_with(fmt::format("profile: {} kernels, {:.3f} ms per step", plan.kernels.size(), step * 1e3)));
  const size_t kinds = report.find("by kind:\n");
  REQUIRE(kinds != std::string::npos);
  CHECK(std::count(report.begin(), report.begin() + static_cast<std::ptrdiff_t>(kinds), '\n') == 2 + 3);
  CHECK(report.find(" conv2d ", kinds) != std::string::npos);
}
