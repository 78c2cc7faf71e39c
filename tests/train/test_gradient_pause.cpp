// The points where data-parallel training all-reduces (train/distributed.h,
// compiler/plan/collectives.h): every parameter's gradient is found, and placed in one bucket
// after the kernels that write it, BatchNorm's sums right after theirs; the CPU backend pauses
// a step there, once or at every collective, without changing its result, and what the pause
// writes into the gradients is what the updates apply.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "compiler/autodiff/training_graph.h"
#include "compiler/passes/pass.h"
#include "dsl/frontend.h"
#include "compiler/plan/collectives.h"
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

namespace {

bool writes_bytes_of(const plan::KernelPlan& p, const plan::Kernel& k, int buffer) {
  const plan::Buffer& b = p.buffer(buffer);
  for (int w : {k.output, k.epilogue_stats}) {
    if (w < 0) continue;
    const plan::Buffer& o = p.buffer(w);
    if (o.storage == b.storage && o.offset < b.offset + b.bytes && b.offset < o.offset + o.bytes) return true;
  }
  return false;
}

bool reads(const plan::Kernel& k, int buffer) {
  return std::find(k.inputs.begin(), k.inputs.end(), buffer) != k.inputs.end();
}

}  // namespace

TEST_CASE("the compiler's collectives: every gradient once, each after the kernels that write it") {
  Step s({0.9, 5e-4});
  const plan::GradientBuffers g = plan::gradient_buffers(s.plan);
  const int64_t cap = 1024;
  const std::vector<plan::Collective> all = plan::place_collectives(s.plan, {.bucket_bytes = cap, .sync_batchnorm = true});
  std::vector<int> bucketed;
  size_t buckets = 0, forward = 0, backward = 0, last_at = 0;
  for (const plan::Collective& c : all) {
    CHECK(c.at >= last_at);  // in the order the step reaches them
    last_at = c.at;
    REQUIRE(c.at <= g.first_update);
    int64_t floats = 0;
    bool just_written = false;  // the stop comes right after the last kernel writing any of it
    REQUIRE(c.at > 0);
    for (int b : c.buffers) {
      floats += ir::numel(s.plan.buffer(b).shape);
      // Final at its stop: nothing after it (and before the updates) writes its bytes.
      for (size_t k = c.at; k < g.first_update; ++k) CHECK_FALSE(writes_bytes_of(s.plan, s.plan.kernels[k], b));
      just_written = just_written || writes_bytes_of(s.plan, s.plan.kernels[c.at - 1], b);
    }
    CHECK(just_written);
    CHECK(c.floats == floats);
    if (c.kind == plan::CollectiveKind::Gradients) {
      ++buckets;
      CHECK((c.buffers.size() == 1 || floats * 4 <= cap));
      bucketed.insert(bucketed.end(), c.buffers.begin(), c.buffers.end());
      continue;
    }
    // BatchNorm's [2, C] sums: read by no kernel before the stop right after the one computing them.
    CHECK(s.plan.buffer(c.buffers[0]).shape[0] == 2);
    for (size_t k = 0; k + 1 < c.at; ++k) CHECK_FALSE(reads(s.plan.kernels[k], c.buffers[0]));
    ++(c.kind == plan::CollectiveKind::BatchNormForward ? forward : backward);
  }
  std::sort(bucketed.begin(), bucketed.end());
  std::vector<int> expected = g.buffers;
  std::sort(expected.begin(), expected.end());
  CHECK(bucketed == expected);
  CHECK(buckets >= 3);
  CHECK(forward == 4);  // the stem's BatchNorm and the block's three (two and the shortcut's)
  CHECK(backward == 4);
  // Without --sync-bn only the buckets, and 25 MiB hold this network's gradients in one.
  const std::vector<plan::Collective> one = plan::place_collectives(s.plan, {});
  REQUIRE(one.size() == 1);
  CHECK(one[0].kind == plan::CollectiveKind::Gradients);
}

TEST_CASE("a step stopped at every collective gives the step's weights") {
  Step s({0.9, 5e-4});
  const std::vector<plan::Collective> all = plan::place_collectives(s.plan, {.bucket_bytes = 1024, .sync_batchnorm = true});
  std::vector<size_t> stops;
  for (const plan::Collective& c : all) stops.push_back(c.at);
  auto whole = s.prepared(), stopped = s.prepared();
  whole->run();
  std::vector<size_t> calls;
  stopped->run_stopping_at(stops, [&](size_t i) { calls.push_back(i); });
  CHECK(calls.size() == stops.size());
  CHECK(std::is_sorted(calls.begin(), calls.end()));
  CHECK(s.parameters(*stopped) == s.parameters(*whole));
}
