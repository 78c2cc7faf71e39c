// The training recipes against PyTorch's own optimizers and loss (golden data from
// make_recipe_steps.py): three steps of Nesterov SGD, AdamW without decay on BatchNorm and
// biases, and AdamW with decay everywhere, with label smoothing, on the reference executor and
// the LLVM backend; and the warmup schedules' learning rates against LinearLR + SequentialLR.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <functional>
#include <map>
#include <string>

#include "compiler/autodiff/training_graph.h"
#include "compiler/passes/pass.h"
#include "compiler/plan/kernel_plan.h"
#include "compiler/reference/executor.h"
#include "dsl/frontend.h"
#include "runtime/checkpoint/reader.h"
#include "tests/golden/golden_data.h"
#include "train/recipe.h"
#ifdef RESNETC_HAVE_LLVM
#include "backends/cpu/cpu_program.h"
#include "backends/cpu/plan_runner.h"
#endif

using namespace resnetc;
using namespace resnetc::testing::golden;

namespace {

constexpr int kSteps = 3;
constexpr int64_t kBatch = 6;

// make_recipe_steps.py's Net.
constexpr const char* kRecipeNet = R"(network recipe {
  input 1x8x8
  stem { conv 4 k3 p1; bn; relu }
  head { avgpool; fc 10 }
}
)";

const checkpoint::Checkpoint& fixture() {
  static const checkpoint::Checkpoint g =
      checkpoint::read_safetensors(std::string(RESNETC_SOURCE_DIR) + "/tests/golden/recipe_steps.safetensors");
  return g;
}

// The recipes of make_recipe_steps.py, as resnetc's training options.
autodiff::TrainingOptions options(const std::string& recipe) {
  autodiff::TrainingOptions o;
  if (recipe == "nesterov") {
    o.momentum = 0.9;
    o.nesterov = true;
    o.weight_decay = 1e-2;
    o.label_smoothing = 0.1;
  } else if (recipe == "adamw") {
    o.optimizer = autodiff::Optimizer::AdamW;
    o.beta2 = 0.99;
    o.weight_decay = 0.05;
    o.label_smoothing = 0.1;
    o.decay_vectors = false;
  } else {
    o.optimizer = autodiff::Optimizer::AdamW;
    o.weight_decay = 0.1;
  }
  return o;
}

ir::Graph training_graph(const std::string& recipe) {
  dsl::SourceManager sources;
  auto net = dsl::compile_source(sources, "recipe.net", kRecipeNet, {std::nullopt, kBatch});
  return autodiff::make_training_graph(net.graph, options(recipe));
}

// Every value the executors set before step `step`: the batch, labels, lr and step count; and
// before the first step, the parameters and statistics (as the script fills them) and the
// optimizer's state (zero).
std::map<ir::ValueId, std::vector<double>> step_inputs(const ir::Graph& g, const std::string& recipe, int step) {
  std::map<ir::ValueId, std::vector<double>> in;
  if (step == 0)
    for (size_t i = 0; i < g.values.size(); ++i) {
      const ir::Value& v = g.values[i];
      if (v.role != ir::ValueRole::Parameter && v.role != ir::ValueRole::State) continue;
      in[static_cast<ir::ValueId>(i)] = autodiff::is_optimizer_state(v.name)
                                            ? std::vector<double>(static_cast<size_t>(ir::numel(v.shape)), 0.0)
                                            : initial(v.name, v.shape);
    }
  std::vector<double> x = uniform(fmt::format("input{}", step), static_cast<size_t>(ir::numel(g.shape(g.input))));
  for (double& v : x) v = static_cast<float>(static_cast<float>(v) * 0.5f + 0.5f);
  in[g.input] = x;
  std::vector<double> labels;
  for (int64_t i = 0; i < kBatch; ++i) labels.push_back(static_cast<double>((i + step) % 10));
  in[g.labels] = labels;
  in[g.learning_rate] = {golden(fixture(), recipe + "/lr")[static_cast<size_t>(step)]};
  for (size_t i = 0; i < g.values.size(); ++i)
    if (g.values[i].name == autodiff::kOptimizerStep) in[static_cast<ir::ValueId>(i)] = {static_cast<double>(step + 1)};
  return in;
}

// Each step's loss, then every parameter, statistic and optimizer state after the last step.
void check_against_golden(const ir::Graph& g, const std::string& recipe, const std::vector<double>& losses,
                          const std::function<std::vector<double>(ir::ValueId)>& result) {
  CHECK(relative_error(losses, golden(fixture(), recipe + "/loss")) < 1e-5);
  int compared = 0;
  for (size_t i = 0; i < g.values.size(); ++i) {
    const ir::Value& v = g.values[i];
    if (v.role != ir::ValueRole::Parameter && v.role != ir::ValueRole::State) continue;
    const std::string key = fmt::format("{}/{}/{}", recipe, autodiff::is_optimizer_state(v.name) ? "state" : "final",
                                        v.name);
    INFO(key);
    REQUIRE(fixture().find(key) != nullptr);
    CHECK(relative_error(result(static_cast<ir::ValueId>(i)), golden(fixture(), key)) < 1e-4);
    ++compared;
  }
  // The parameters and statistics (7), and the optimizer's state: a velocity each, or two moments
  // each and the step count.
  CHECK(compared == (recipe == "nesterov" ? 7 + 5 : 7 + 2 * 5 + 1));
}

const char* const kRecipes[] = {"nesterov", "adamw", "adamw_decay_all"};

}  // namespace

TEST_CASE("the recipes' steps on the reference executor match PyTorch's optimizers and loss") {
  for (const std::string recipe : kRecipes) {
    DYNAMIC_SECTION(recipe) {
      const ir::Graph g = training_graph(recipe);
      reference::Executor ex(g);
      std::vector<double> losses;
      for (int step = 0; step < kSteps; ++step) {
        for (auto& [id, values] : step_inputs(g, recipe, step)) ex.set(id, values);
        ex.run();
        losses.push_back(ex.get(g.loss)[0]);
      }
      check_against_golden(g, recipe, losses, [&](ir::ValueId id) { return ex.get(id); });
    }
  }
}

#ifdef RESNETC_HAVE_LLVM
TEST_CASE("the recipes' steps on the CPU backend match PyTorch's optimizers and loss, at -O0 and -O2") {
  for (const std::string recipe : kRecipes)
    for (int level : {0, 2}) {
      DYNAMIC_SECTION(recipe << " -O" << level) {
        const ir::Graph g = training_graph(recipe);
        plan::KernelPlan plan = passes::optimized_plan(g, passes::at_level(level));
        codegen::llvm_backend::Jit jit;
        cpu::PlanRunner runner(plan, codegen::llvm_backend::compile_plan(jit, plan, cpu::ThreadPool::global()),
                               cpu::ThreadPool::global());
        // By name: the passes renumber the values.
        std::map<std::string, int> by_name;
        for (size_t i = 0; i < plan.buffers.size(); ++i) by_name[plan.buffers[i].name] = static_cast<int>(i);
        auto buffer_of = [&](ir::ValueId id) { return by_name.at(g.value(id).name); };
        runner.poison_arena();
        std::vector<double> losses;
        for (int step = 0; step < kSteps; ++step) {
          for (auto& [id, values] : step_inputs(g, recipe, step)) {
            const int b = buffer_of(id);
            for (size_t j = 0; j < values.size(); ++j) {
              if (id == g.labels) runner.int_buffer(b)[j] = static_cast<int32_t>(values[j]);
              else runner.buffer(b)[j] = static_cast<float>(values[j]);
            }
          }
          runner.run();
          losses.push_back(runner.buffer(buffer_of(g.loss))[0]);
        }
        check_against_golden(g, recipe, losses, [&](ir::ValueId id) {
          std::span<float> data = runner.buffer(buffer_of(id));
          return std::vector<double>(data.begin(), data.begin() + ir::numel(g.shape(id)));
        });
      }
    }
}
#endif

TEST_CASE("a warmup then the schedule gives PyTorch's LinearLR then the scheduler in SequentialLR") {
  train::Recipe r;
  r.lr = 0.1;
  r.warmup_epochs = 1;
  const int64_t steps_per_epoch = 3;
  SECTION("cosine") {
    r.schedule = train::Schedule::Cosine;
    r.epochs = 4;
    r.warmup_start = 0.25;
  }
  SECTION("step") {
    r.schedule = train::Schedule::Step;
    r.epochs = 5;
  }
  std::vector<double> got;
  for (int64_t epoch = 0; epoch < r.epochs; ++epoch)
    for (int64_t step = 0; step < steps_per_epoch; ++step)
      got.push_back(train::learning_rate(r, epoch, step, steps_per_epoch));
  const std::string key = std::string("lr/") + std::string(train::schedule_name(r.schedule));
  CHECK(relative_error(got, golden(fixture(), key)) < 1e-6);
}
