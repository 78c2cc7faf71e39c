// The point where data-parallel training all-reduces the gradients (train/distributed.h):
// every parameter's gradient is found, the CPU backend pauses a step there without changing
// its result, and what the pause writes into the gradients is what the updates apply.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "compiler/autodiff/training_graph.h"
#include "compiler/passes/pass.h"
#include "dsl/frontend.h"
#include "train/distributed.h"
#include "train/initialize.h"

using namespace resnetc;

namespace {

constexpr int64_t kBatch = 4;

ir::Graph network() {
  dsl::SourceManager sources;
  const char* text = "network n {\n input 1x8x8\n stem { conv 4 k3 p1; bn; relu }\n stage basic 8 stride=2\n"
                     " head { avgpool; fc 10 }\n}";
  return dsl::compile_source(sources, "n.net", text, {std::nullopt, kBatch}).graph;
}

struct Step {
  cpu::ThreadPool pool{cpu::ThreadPool::Options{2, 0}};
  codegen::llvm_backend::CpuBackend backend{pool};
  ir::Graph training;
  plan::KernelPlan plan;

  explicit Step(autodiff::TrainingOptions options)
      : training(autodiff::make_training_graph(network(), options)), plan(passes::optimized_plan(training, {})) {}

  // An executor with the seed's weights and one batch of noise written.
  std::unique_ptr<train::PlanExecutor> prepared() {
    std::unique_ptr<train::PlanExecutor> e = backend.compile(plan);
    train::initialize_persistent(*e, plan, training, 7);
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> pixel(0, 1);
    std::vector<float> images(static_cast<size_t>(ir::numel(plan.buffer(plan.input).shape)));
    for (float& v : images) v = pixel(rng);
    std::vector<int32_t> labels{1, 4, 7, 9};
    std::vector<float> lr{0.1f};
    train::write_buffer(*e, plan.input, std::span<const float>(images));
    train::write_buffer(*e, plan.labels, std::span<const int32_t>(labels));
    train::write_buffer(*e, plan.learning_rate, std::span<const float>(lr));
    return e;
  }

  std::vector<std::vector<float>> parameters(train::PlanExecutor& e) const {
    std::vector<std::vector<float>> out;
    for (size_t b = 0; b < plan.buffers.size(); ++b)
      if (plan.buffers[b].role == ir::ValueRole::Parameter) {
        out.emplace_back(static_cast<size_t>(ir::numel(plan.buffers[b].shape)));
        train::read_buffer(e, static_cast<int>(b), std::span<float>(out.back()));
      }
    return out;
  }
};

}  // namespace

TEST_CASE("every parameter's gradient is found once, final before the first update") {
  Step s({0.9, 5e-4});
  const plan::GradientBuffers g = plan::gradient_buffers(s.plan);
  REQUIRE(g.first_update > 0);
  CHECK_FALSE(ir::is_update(s.plan.kernels[g.first_update - 1].kind));
  // An SGD update's inputs are (learning rate, then per parameter) the parameter, its gradient
  // and maybe its velocity (compiler/ir/ops.def). Two parameters may share one gradient buffer
  // (here the biases of the two BatchNorms that feed the block's sum): it is reduced once.
  std::vector<int> expected;
  for (size_t k = g.first_update; k < s.plan.kernels.size(); ++k) {
    const std::vector<int>& in = s.plan.kernels[k].inputs;
    for (size_t i = 0; i + 1 < in.size(); ++i)
      if (s.plan.buffer(in[i]).role == ir::ValueRole::Parameter) {
        CHECK(s.plan.buffer(in[i + 1]).shape == s.plan.buffer(in[i]).shape);
        if (std::find(expected.begin(), expected.end(), in[i + 1]) == expected.end()) expected.push_back(in[i + 1]);
      }
  }
  CHECK(expected.size() == 13);  // the network's 14 parameters, two sharing a gradient
  std::vector<int> found = g.buffers;
  std::sort(found.begin(), found.end());
  std::sort(expected.begin(), expected.end());
  CHECK(found == expected);
  int64_t floats = 0;
  for (int b : found) floats += ir::numel(s.plan.buffer(b).shape);
  CHECK(g.floats == floats);
}

TEST_CASE("a step paused before its updates gives the step's weights") {
  Step s({0.9, 5e-4});
  const plan::GradientBuffers g = plan::gradient_buffers(s.plan);
  auto whole = s.prepared(), paused = s.prepared();
  whole->run();
  int calls = 0;
  paused->run_pausing_at(g.first_update, [&] { ++calls; });
  CHECK(calls == 1);
  CHECK(s.parameters(*paused) == s.parameters(*whole));
}

TEST_CASE("the updates apply the gradients as the pause leaves them") {
  Step s({0, 0});  // plain SGD: a zero gradient leaves a parameter as it was
  const plan::GradientBuffers g = plan::gradient_buffers(s.plan);
  auto e = s.prepared();
  const std::vector<std::vector<float>> before = s.parameters(*e);
  e->run_pausing_at(g.first_update, [&] {
    for (int b : g.buffers) {
      const std::vector<float> zero(static_cast<size_t>(ir::numel(s.plan.buffer(b).shape)));
      train::write_buffer(*e, b, std::span<const float>(zero));
    }
  });
  CHECK(s.parameters(*e) == before);
  e = s.prepared();
  e->run();
  CHECK(s.parameters(*e) != before);
}
