// Inference with BatchNorm folded into the convolutions (-O1 and -O2) gives the logits of the
// unfolded network (-O0) within 1e-5 relative, on the CPU backend in float32, with the same
// weights and running statistics.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "backends/cpu/cpu_backend.h"
#include "compiler/passes/pass.h"
#include "dsl/frontend.h"

using namespace resnetc;

namespace {

// Writes every persistent buffer and the input from generators seeded by the buffer's name
// (and `salt`).
void fill(train::PlanExecutor& exec, const plan::KernelPlan& plan, uint32_t salt = 0) {
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const plan::Buffer& b = plan.buffers[i];
    if (b.storage == plan::Storage::Arena) continue;
    std::mt19937 rng(static_cast<uint32_t>(std::hash<std::string>{}(b.name)) + salt);
    // Weights scaled by their fan-in so that activations stay near 1 through 18 layers.
    const bool positive = b.name.ends_with(".running_var");
    const float bound =
        b.shape.size() >= 2 ? 1.0f / std::sqrt(static_cast<float>(ir::numel(b.shape) / b.shape[0])) : 1.0f;
    std::uniform_real_distribution<float> u(positive ? 0.5f : -bound, positive ? 1.5f : bound);
    std::vector<float> values(static_cast<size_t>(ir::numel(b.shape)));
    for (float& v : values) v = u(rng);
    train::write_buffer(exec, static_cast<int>(i), std::span<const float>(values));
  }
}

std::vector<float> logits_of(train::PlanExecutor& exec, const plan::KernelPlan& plan) {
  exec.run();
  std::vector<float> logits(static_cast<size_t>(ir::numel(plan.buffer(plan.logits).shape)));
  train::read_buffer(exec, plan.logits, std::span<float>(logits));
  return logits;
}

// The logits of `forward` optimized at `level`, with every input drawn by fill().
std::vector<float> logits_at(const ir::Graph& forward, int level) {
  const plan::KernelPlan plan = passes::optimized_plan(forward, passes::at_level(level));
  codegen::llvm_backend::CpuBackend backend(cpu::ThreadPool::global());
  auto exec = backend.compile(plan);
  fill(*exec, plan);
  return logits_of(*exec, plan);
}

}  // namespace

TEST_CASE("the folded weights are computed again exactly when the weights change") {
  dsl::SourceManager sources;
  dsl::LowerOptions lower;
  lower.batch = 3;
  const ir::Graph forward =
      dsl::compile_file(sources, std::string(RESNETC_SOURCE_DIR) + "/examples/small-fashion.net", lower).graph;
  const plan::KernelPlan plan = passes::optimized_plan(forward, passes::at_level(2));
  REQUIRE(plan.preamble_kernels > 0);
  codegen::llvm_backend::CpuBackend backend(cpu::ThreadPool::global());
  auto exec = backend.compile(plan);
  fill(*exec, plan);
  const std::vector<float> first = logits_of(*exec, plan);
  CHECK(logits_of(*exec, plan) == first);  // the preamble skipped: its results kept
  fill(*exec, plan, 7);                    // new weights (and input)
  const std::vector<float> changed = logits_of(*exec, plan);
  CHECK(changed != first);
  auto fresh = backend.compile(plan);
  fill(*fresh, plan, 7);
  CHECK(logits_of(*fresh, plan) == changed);
}

TEST_CASE("folded BatchNorm keeps the logits within 1e-5 relative on the CPU backend") {
  for (const char* example : {"small-fashion.net", "d2l-resnet18.net", "resnet18.net"}) {
    INFO(example);
    dsl::SourceManager sources;
    dsl::LowerOptions lower;
    lower.input = std::array<int64_t, 3>{example == std::string("small-fashion.net") ? 1 : 3, 32, 32};
    lower.batch = 3;
    const ir::Graph forward =
        dsl::compile_file(sources, std::string(RESNETC_SOURCE_DIR) + "/examples/" + example, lower).graph;
    const std::vector<float> unfolded = logits_at(forward, 0);
    for (int level : {1, 2}) {
      const std::vector<float> folded = logits_at(forward, level);
      REQUIRE(folded.size() == unfolded.size());
      float scale = 0, worst = 0;
      for (float v : unfolded) scale = std::max(scale, std::abs(v));
      for (size_t i = 0; i < folded.size(); ++i) worst = std::max(worst, std::abs(folded[i] - unfolded[i]));
      INFO("-O" << level << ": largest difference " << worst << ", largest logit " << scale);
      CHECK(std::isfinite(worst));
      CHECK(worst <= 1e-5f * scale);
    }
  }
}
