#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <set>

#include "compiler/autodiff/training_graph.h"
#include "compiler/passes/pass.h"
#include "compiler/plan/kernel_plan.h"
#include "compiler/reference/executor.h"
#include "dsl/frontend.h"
#include "runtime/checkpoint/reader.h"
#include "tests/golden/golden_data.h"
#ifdef RESNETC_HAVE_LLVM
#include "backends/cpu/cpu_program.h"
#include "backends/cpu/plan_runner.h"
#endif

using namespace resnetc;
using namespace resnetc::testing::golden;

namespace {

constexpr size_t kSamples = 4096;  // as make_resnet18_step.py

std::vector<double> sample(const std::vector<double>& full) {
  if (full.size() <= kSamples) return full;
  std::vector<double> out;
  for (size_t k = 0; k < kSamples; ++k) out.push_back(full[k * full.size() / kSamples]);
  return out;
}

double l2(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

struct Step {
  ir::Graph graph;
  std::map<std::string, ir::ValueId> grad_of;  // parameter name -> its gradient value
  std::set<std::string> zero_grad;              // biases of convs that feed a training BatchNorm
};

Step training_step() {
  dsl::SourceManager sources;
  auto net = dsl::compile_file(sources, std::string(RESNETC_SOURCE_DIR) + "/examples/d2l-resnet18.net",
                               {std::array<int64_t, 3>{1, 32, 32}, 4});
  Step s{autodiff::make_training_graph(net.graph, {0, 0}), {}, {}};
  for (const ir::Op& op : s.graph.ops) {
    if (op.kind == ir::OpKind::SgdUpdate) s.grad_of[s.graph.value(op.inputs[0]).name] = op.inputs[1];
    // BatchNorm subtracts the batch mean, so a bias before it has a gradient of exactly 0.
    if (op.kind == ir::OpKind::BnStats && s.graph.value(op.inputs[0]).producer >= 0) {
      const ir::Op& conv = s.graph.op(s.graph.value(op.inputs[0]).producer);
      if (conv.kind == ir::OpKind::Conv2d && conv.attrs.bias) s.zero_grad.insert(s.graph.value(conv.inputs[2]).name);
    }
  }
  return s;
}

// Values no op produces, as the golden script set them.
std::map<ir::ValueId, std::vector<double>> inputs(const ir::Graph& g) {
  std::map<ir::ValueId, std::vector<double>> in;
  for (size_t i = 0; i < g.values.size(); ++i) {
    const ir::Value& v = g.values[i];
    auto id = static_cast<ir::ValueId>(i);
    if (v.role == ir::ValueRole::Parameter || v.role == ir::ValueRole::State) in[id] = initial(v.name, v.shape);
  }
  std::vector<double> x = uniform("input", static_cast<size_t>(ir::numel(g.shape(g.input))));
  for (double& v : x) v = static_cast<float>(static_cast<float>(v) * 0.5f + 0.5f);
  in[g.input] = x;
  in[g.learning_rate] = {0.05};
  std::vector<double> labels;
  for (int64_t i = 0; i < g.shape(g.labels)[0]; ++i) labels.push_back(static_cast<double>(i % 10));
  in[g.labels] = labels;
  return in;
}

// Loss, every gradient and updated tensor against PyTorch's.
void check_against_golden(const Step& s, const std::function<std::vector<double>(ir::ValueId)>& result) {
  auto g = checkpoint::read_safetensors(std::string(RESNETC_SOURCE_DIR) + "/tests/golden/d2l_resnet18_step.safetensors");
  CHECK(relative_error(result(s.graph.loss), golden(g, "loss")) < 1e-4);
  for (const auto& [name, grad] : s.grad_of) {
    INFO(name);
    std::vector<double> full = result(grad);
    if (s.zero_grad.count(name)) {
      // Both sides hold only rounding noise, PyTorch's in float32: check that it is noise.
      CHECK(l2(full) < 1e-4);
      CHECK(golden(g, "norm/" + name)[0] < 1e-4);
      continue;
    }
    CHECK(relative_error(sample(full), golden(g, "grad/" + name)) < 1e-4);
    CHECK(std::abs(l2(full) - golden(g, "norm/" + name)[0]) <= 1e-4 * golden(g, "norm/" + name)[0]);
  }
  for (size_t i = 0; i < s.graph.values.size(); ++i) {
    const ir::Value& v = s.graph.values[i];
    if (v.role != ir::ValueRole::Parameter && v.role != ir::ValueRole::State) continue;
    INFO(v.name);
    CHECK(relative_error(sample(result(static_cast<ir::ValueId>(i))), golden(g, "updated/" + v.name)) < 1e-4);
  }
}

}  // namespace

TEST_CASE("one training step of the seed's ResNet-18: the reference executor matches PyTorch") {
  Step s = training_step();
  reference::Executor ex(s.graph);
  for (auto& [id, values] : inputs(s.graph)) ex.set(id, values);
  ex.run();
  check_against_golden(s, [&](ir::ValueId id) { return ex.get(id); });
}

#ifdef RESNETC_HAVE_LLVM
TEST_CASE("one training step of the seed's ResNet-18: the CPU backend matches PyTorch") {
  Step s = training_step();
  plan::KernelPlan plan = passes::optimized_plan(s.graph, passes::at_level(0));
  codegen::llvm_backend::Jit jit;
  cpu::PlanRunner runner(plan, codegen::llvm_backend::compile_plan(jit, plan, cpu::ThreadPool::global()),
                         cpu::ThreadPool::global());
  std::map<ir::ValueId, int> buffer_of;
  for (size_t i = 0; i < plan.buffers.size(); ++i) buffer_of[plan.buffers[i].value] = static_cast<int>(i);
  for (auto& [id, values] : inputs(s.graph)) {
    int b = buffer_of.at(id);
    for (size_t j = 0; j < values.size(); ++j) {
      if (id == s.graph.labels) runner.int_buffer(b)[j] = static_cast<int32_t>(values[j]);
      else runner.buffer(b)[j] = static_cast<float>(values[j]);
    }
  }
  runner.poison_arena();
  runner.run();
  check_against_golden(s, [&](ir::ValueId id) {
    std::span<float> data = runner.buffer(buffer_of.at(id));
    return std::vector<double>(data.begin(), data.begin() + ir::numel(s.graph.shape(id)));
  });
}
#endif
