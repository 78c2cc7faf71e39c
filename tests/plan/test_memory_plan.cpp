#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "compiler/autodiff/training_graph.h"
#include "compiler/ir/builder.h"
#include "compiler/passes/pass.h"
#include "compiler/plan/kernel_plan.h"
#include "dsl/frontend.h"
#include "tests/tiny_network.h"

#ifdef RESNETC_HAVE_LLVM
#include "backends/cpu/cpu_program.h"
#include "compiler/reference/executor.h"
#include "backends/cpu/plan_runner.h"
#endif

using namespace resnetc;

namespace {

ir::Graph d2l_resnet18(int64_t batch) {
  dsl::SourceManager sources;
  return dsl::compile_file(sources, std::string(RESNETC_SOURCE_DIR) + "/examples/d2l-resnet18.net",
                           {std::array<int64_t, 3>{1, 96, 96}, batch})
      .graph;
}

// A training step on shapes that divide nothing evenly, with momentum (so velocities too).
ir::Graph small_training_graph() { return testing::tiny_training_graph({0.9, 5e-4}); }

// Views read after their source's own last reader, one a view of a view: `a` must outlive
// the kernels that write `b` and `c`, though no kernel names `a` after the first.
ir::Graph views_graph() {
  ir::GraphBuilder b("views", {2, 3, 4, 4});
  auto view = [&](ir::ValueId of, std::string name, ir::Dims shape, int64_t offset) {
    ir::Attrs a;
    a.shape = std::move(shape);
    a.offset = offset;
    return b.apply(ir::OpKind::View, std::move(name), {of}, a, {});
  };
  const ir::ValueId x = b.input();
  const ir::ValueId a = b.apply(ir::OpKind::Relu, "a", {x}, {}, {});
  const ir::ValueId second = view(a, "a.second", {1, 3, 4, 4}, 48);
  const ir::ValueId channel = view(second, "a.second.channel1", {1, 1, 4, 4}, 16);
  const ir::ValueId twice = b.apply(ir::OpKind::Add, "twice", {x, x}, {}, {});
  const ir::ValueId thrice = b.apply(ir::OpKind::Add, "thrice", {twice, x}, {}, {});
  const ir::ValueId first = view(thrice, "thrice.first", {1, 1, 4, 4}, 0);
  const ir::ValueId sum = b.apply(ir::OpKind::Add, "sum", {channel, first}, {}, {});
  return std::move(b).finish(sum);
}

int root_of(const plan::KernelPlan& p, int buffer) {
  while (p.buffer(buffer).view_of >= 0) buffer = p.buffer(buffer).view_of;
  return buffer;
}

bool share_bytes(const plan::Buffer& a, const plan::Buffer& b) {
  return a.storage == b.storage && a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
}

// The planner's promises, checked from the plan alone with liveness recomputed here.
// Returns the most arena bytes live at one kernel: what any placement needs at least.
int64_t check_plan(const plan::KernelPlan& p) {
  const int n = static_cast<int>(p.kernels.size());
  std::vector<int> written(p.buffers.size(), -1), last_read(p.buffers.size(), -1);
  for (int k = 0; k < n; ++k) {
    const plan::Kernel& kernel = p.kernels[static_cast<size_t>(k)];
    for (int out : {kernel.output, kernel.epilogue_stats})
      if (out >= 0) written[static_cast<size_t>(out)] = k;
    for (int in : kernel.inputs) last_read[static_cast<size_t>(root_of(p, in))] = k;
  }
  // The preamble's results are kept from run to run: live from the start to the end.
  for (size_t k = 0; k < p.preamble_kernels; ++k) {
    const auto out = static_cast<size_t>(p.kernels[k].output);
    written[out] = 0;
    last_read[out] = n;
  }
  for (int pinned : {p.loss, p.logits})
    if (pinned >= 0) last_read[static_cast<size_t>(root_of(p, pinned))] = n;

  int64_t unplanned = 0;
  std::vector<int> arena;  // buffers with arena bytes of their own
  for (size_t i = 0; i < p.buffers.size(); ++i) {
    const plan::Buffer& b = p.buffers[i];
    INFO(b.name);
    CHECK(b.offset >= 0);
    CHECK(b.offset + b.bytes <= p.bytes(b.storage));
    if (b.view_of >= 0) {
      const plan::Buffer& source = p.buffer(b.view_of);
      CHECK(b.storage == source.storage);
      CHECK(b.offset >= source.offset);
      CHECK(b.offset + b.bytes <= source.offset + source.bytes);
      continue;
    }
    CHECK(b.offset % plan::kBufferAlignment == 0);
    if (b.storage != plan::Storage::Arena) continue;
    CHECK(written[i] >= 0);
    arena.push_back(static_cast<int>(i));
    unplanned += plan::align_buffer(b.bytes);
  }
  CHECK(p.unplanned_arena_bytes == unplanned);

  auto live = [&](int i) {
    const auto u = static_cast<size_t>(i);
    return std::pair(written[u], std::max(written[u], last_read[u]));
  };
  int64_t peak_live = 0;
  for (int k = 0; k < n; ++k) {
    int64_t bytes = 0;
    for (int i : arena)
      if (live(i).first <= k && k <= live(i).second) bytes += plan::align_buffer(p.buffer(i).bytes);
    peak_live = std::max(peak_live, bytes);
  }
  CHECK(p.bytes(plan::Storage::Arena) >= peak_live);
  for (size_t x = 0; x < arena.size(); ++x)
    for (size_t y = x + 1; y < arena.size(); ++y) {
      auto [first_x, last_x] = live(arena[x]);
      auto [first_y, last_y] = live(arena[y]);
      if (first_x <= last_y && first_y <= last_x) {
        INFO(p.buffer(arena[x]).name << " and " << p.buffer(arena[y]).name);
        CHECK(!share_bytes(p.buffer(arena[x]), p.buffer(arena[y])));
      }
    }

  // What the runtime reads after a run: nothing written after it may touch it.
  for (int pinned : {p.loss, p.logits}) {
    if (pinned < 0) continue;
    for (int k = written[static_cast<size_t>(root_of(p, pinned))] + 1; k < n; ++k) {
      const plan::Kernel& kernel = p.kernels[static_cast<size_t>(k)];
      INFO(p.buffer(pinned).name << " after " << kernel.name);
      if (kernel.output >= 0) CHECK(!share_bytes(p.buffer(pinned), p.buffer(kernel.output)));
      for (size_t i = 0; i < kernel.inputs.size(); ++i)
        if (ir::writes_input(kernel.kind, i)) CHECK(!share_bytes(p.buffer(pinned), p.buffer(kernel.inputs[i])));
    }
  }
  return peak_live;
}

// Reuse moves arena buffers and nothing else; without it, the arena is laid out in value order.
void check_against_unplanned(const plan::KernelPlan& planned, const plan::KernelPlan& unplanned) {
  REQUIRE(planned.buffers.size() == unplanned.buffers.size());
  CHECK(planned.kernels.size() == unplanned.kernels.size());
  CHECK(unplanned.bytes(plan::Storage::Arena) == unplanned.unplanned_arena_bytes);
  CHECK(planned.unplanned_arena_bytes == unplanned.unplanned_arena_bytes);
  CHECK(planned.bytes(plan::Storage::Persistent) == unplanned.bytes(plan::Storage::Persistent));
  CHECK(planned.bytes(plan::Storage::Input) == unplanned.bytes(plan::Storage::Input));
  int64_t end = 0;
  for (size_t i = 0; i < planned.buffers.size(); ++i) {
    const plan::Buffer &a = planned.buffers[i], &b = unplanned.buffers[i];
    INFO(a.name);
    CHECK(a.name == b.name);
    CHECK(a.storage == b.storage);
    CHECK(a.bytes == b.bytes);
    CHECK(a.view_of == b.view_of);
    if (b.storage != plan::Storage::Arena) CHECK(a.offset == b.offset);
    if (b.storage == plan::Storage::Arena && b.view_of < 0) {
      CHECK(b.offset == end);
      end += plan::align_buffer(b.bytes);
    }
  }
}

std::string summary_line(const plan::KernelPlan& p) {
  std::string text = plan::print_plan(p);
  text.pop_back();
  return text.substr(text.rfind('\n') + 1);
}

}  // namespace

TEST_CASE("memory planning: the d2l ResNet-18 training step at 1x96x96, batch 256") {
  const ir::Graph forward = d2l_resnet18(256);
  const ir::Graph training = autodiff::make_training_graph(forward, {0, 0});
  const plan::KernelPlan planned = plan::make_plan(training);
  const plan::KernelPlan unplanned = plan::make_plan(training, {.reuse_memory = false});
  const int64_t peak_live = check_plan(planned);
  check_plan(unplanned);
  check_against_unplanned(planned, unplanned);

  const int64_t arena = planned.bytes(plan::Storage::Arena), all = planned.unplanned_arena_bytes;
  INFO(fmt::format("arena {} of {} bytes unplanned ({:.3f}); at most {} live at once", arena, all,
                   static_cast<double>(arena) / static_cast<double>(all), peak_live));
  CHECK(arena < all);
  CHECK(plan::planned_peak_bytes(planned) < plan::unplanned_peak_bytes(planned));
  CHECK(plan::planned_peak_bytes(unplanned) == plan::unplanned_peak_bytes(unplanned));

  const std::string line = summary_line(planned);
  CHECK(line.starts_with(fmt::format("kernels: {}, bytes moved: ", planned.kernels.size())));
  CHECK(line.find(fmt::format(", peak buffer memory: {} (", plan::planned_peak_bytes(planned))) != std::string::npos);
  CHECK(line.find(fmt::format(", unplanned: {} (", plan::unplanned_peak_bytes(planned))) != std::string::npos);

  SECTION("and its evaluation plan, which keeps the logits") {
    const plan::KernelPlan eval = plan::make_plan(forward);
    check_plan(eval);
    check_against_unplanned(eval, plan::make_plan(forward, {.reuse_memory = false}));
    CHECK(eval.bytes(plan::Storage::Arena) < eval.unplanned_arena_bytes);
  }
}

TEST_CASE("memory planning: folded weights form a preamble whose results keep their memory") {
  dsl::SourceManager sources;
  dsl::LowerOptions lower;
  lower.input = std::array<int64_t, 3>{1, 32, 32};
  lower.batch = 4;
  ir::Graph forward =
      dsl::compile_file(sources, std::string(RESNETC_SOURCE_DIR) + "/examples/d2l-resnet18.net", lower).graph;
  CHECK(plan::make_plan(forward).preamble_kernels == 0);  // nothing folded: every op reads the input
  passes::run_pipeline(forward, passes::at_level(1));
  const plan::KernelPlan p = plan::make_plan(forward);
  CHECK(p.preamble_kernels == 2 * 17);  // a weight and a bias for each of the 17 BatchNorms
  for (size_t k = 0; k < p.kernels.size(); ++k) {
    INFO(p.kernels[k].name);
    const bool folds = p.kernels[k].name.find(".folded_") != std::string::npos;
    CHECK(folds == (k < p.preamble_kernels));
  }
  check_plan(p);
  CHECK(plan::print_plan(p).find("preamble: the first 34 kernels") != std::string::npos);
  // Training graphs update their weights within the step: no preamble.
  ir::Graph training = small_training_graph();
  passes::run_pipeline(training, {});
  CHECK(plan::make_plan(training).preamble_kernels == 0);
}

TEST_CASE("memory planning: a small training step and a graph of views") {
  for (const ir::Graph& graph : {small_training_graph(), views_graph()}) {
    INFO(graph.name);
    const plan::KernelPlan planned = plan::make_plan(graph);
    check_plan(planned);
    check_against_unplanned(planned, plan::make_plan(graph, {.reuse_memory = false}));
    CHECK(planned.bytes(plan::Storage::Arena) < planned.unplanned_arena_bytes);
  }
}

TEST_CASE("memory planning: a view keeps its source's offset") {
  const ir::Graph graph = views_graph();
  const plan::KernelPlan p = plan::make_plan(graph);
  auto find = [&](const std::string& name) -> const plan::Buffer& {
    return *std::find_if(p.buffers.begin(), p.buffers.end(), [&](const plan::Buffer& b) { return b.name == name; });
  };
  CHECK(find("a.second").offset == find("a").offset + 48 * 4);
  CHECK(find("a.second.channel1").offset == find("a").offset + (48 + 16) * 4);
  CHECK(find("thrice.first").offset == find("thrice").offset);
}

// The evaluation graph of a network with dropout and drop-path: both are the identity there.
ir::Graph dropout_forward_graph() {
  dsl::SourceManager sources;
  return dsl::compile_source(sources, "t.net", testing::kTinyDropoutNetwork, {std::nullopt, 3}).graph;
}

TEST_CASE("memory planning: dropout and drop-path in evaluation alias their source, with no kernel") {
  const ir::Graph graph = dropout_forward_graph();
  const plan::KernelPlan p = plan::make_plan(graph);
  check_plan(p);
  int aliases = 0;
  for (const ir::Op& op : graph.ops) {
    if (op.kind != ir::OpKind::Dropout && op.kind != ir::OpKind::DropPath) continue;
    ++aliases;
    const plan::Buffer& b = p.buffers[static_cast<size_t>(op.output)];
    const plan::Buffer& source = p.buffers[static_cast<size_t>(op.inputs[0])];
    CHECK(b.view_of == op.inputs[0]);
    CHECK(b.offset == source.offset);
  }
  CHECK(aliases == 5);  // a dropout and a drop-path in each of the two blocks, a dropout in the head
  CHECK(std::none_of(p.kernels.begin(), p.kernels.end(), [](const plan::Kernel& k) {
    return k.kind == ir::OpKind::Dropout || k.kind == ir::OpKind::DropPath;
  }));
}

#ifdef RESNETC_HAVE_LLVM
namespace {

// `graph` as every level hands it to a backend: its elementwise ops fused maps, its values kept.
ir::Graph lowered(ir::Graph graph) {
  passes::lower_maps(graph);
  return graph;
}

// A plan compiled for the CPU, its arena poisoned with NaN so a read of overwritten bytes shows.
struct CpuRun {
  plan::KernelPlan plan;
  cpu::PlanRunner runner;
  CpuRun(const ir::Graph& graph, plan::PlanOptions options, codegen::llvm_backend::Jit& jit)
      : plan(plan::make_plan(lowered(graph), options)),
        runner(plan, codegen::llvm_backend::compile_plan(jit, plan, cpu::ThreadPool::global()),
               cpu::ThreadPool::global()) {
    runner.poison_arena();
  }
  std::vector<float> values(int buffer) {
    std::span<const float> data = runner.buffer(buffer);
    return {data.begin(), data.end()};
  }
};

double relative_error(std::span<const float> got, const std::vector<double>& want) {
  double scale = 1e-6, worst = 0;
  for (double w : want) scale = std::max(scale, std::abs(w));
  for (size_t j = 0; j < want.size(); ++j)
    worst = std::max(worst, std::isfinite(got[j]) ? std::abs(got[j] - want[j]) / scale : INFINITY);
  return worst;
}

// Runs `graph` with and without reuse and on the reference executor, on the same random
// inputs; compares what the runtime reads after a step (loss, logits, persistent tensors),
// then a second step from the updated tensors, which must not depend on the first's arena.
void check_reuse_runs(const ir::Graph& graph) {
  static codegen::llvm_backend::Jit jit;  // one per process: creating it costs ~100 ms
  CpuRun reuse(graph, {}, jit), own(graph, {.reuse_memory = false}, jit);
  REQUIRE(reuse.plan.bytes(plan::Storage::Arena) < own.plan.bytes(plan::Storage::Arena));
  reference::Executor reference(graph);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(-1, 1);
  for (size_t i = 0; i < reuse.plan.buffers.size(); ++i) {
    const plan::Buffer& b = reuse.plan.buffers[i];
    if (b.storage == plan::Storage::Arena) continue;
    const int index = static_cast<int>(i);
    std::vector<double> values(static_cast<size_t>(ir::numel(b.shape)));
    for (size_t j = 0; j < values.size(); ++j) {
      if (b.value == graph.labels) {
        const auto label = static_cast<int32_t>(rng() % static_cast<unsigned>(graph.shape(graph.output).back()));
        reuse.runner.int_buffer(index)[j] = own.runner.int_buffer(index)[j] = label;
        values[j] = label;
      } else {
        float v = uniform(rng);
        if (b.name.ends_with("running_var") || b.value == graph.learning_rate) v = std::abs(v) + 0.1f;
        reuse.runner.buffer(index)[j] = own.runner.buffer(index)[j] = v;
        values[j] = v;
      }
    }
    reference.set(b.value, std::move(values));
  }
  reuse.runner.run();
  own.runner.run();
  reference.run();

  std::vector<int> read_back;
  for (size_t i = 0; i < reuse.plan.buffers.size(); ++i)
    if (reuse.plan.buffers[i].storage == plan::Storage::Persistent) read_back.push_back(static_cast<int>(i));
  for (int b : {reuse.plan.loss, reuse.plan.logits})
    if (b >= 0) read_back.push_back(b);
  for (int b : read_back) {
    INFO(reuse.plan.buffer(b).name);
    CHECK(relative_error(reuse.runner.buffer(b), reference.get(reuse.plan.buffer(b).value)) < 1e-4);
    CHECK(reuse.values(b) == own.values(b));
  }
  reuse.runner.run();
  own.runner.run();
  for (int b : read_back) {
    INFO("second step: " << reuse.plan.buffer(b).name);
    CHECK(reuse.values(b) == own.values(b));
  }
}

}  // namespace

TEST_CASE("memory planning: CPU runs with reuse match the reference executor and runs without") {
  SECTION("a training step") { check_reuse_runs(small_training_graph()); }
  SECTION("views of a source past its last direct reader") { check_reuse_runs(views_graph()); }
  SECTION("dropout and drop-path in evaluation") { check_reuse_runs(dropout_forward_graph()); }
}
#endif
