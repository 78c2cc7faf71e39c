#include "tests/backend/kernel_harness.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>

#include <llvm/ADT/StringMap.h>
#include <llvm/Support/Host.h>

#include "backends/cpu/cpu_precision.h"
#include "backends/cpu/cpu_program.h"
#include "compiler/plan/kernel_plan.h"
#include "compiler/reference/executor.h"
#include "backends/cpu/plan_runner.h"
#include "tests/batchnorm_draw.h"
#include "tests/label_classes.h"

namespace resnetc::testing {

codegen::llvm_backend::Jit& test_jit() {
  static codegen::llvm_backend::Jit instance;
  return instance;
}

bool host_has_bf16() {
  llvm::StringMap<bool> features;
  llvm::sys::getHostCPUFeatures(features);
  return !codegen::llvm_backend::cpu_precision_refusal(plan::Precision::Bf16, features);
}

bool host_has_amx() {
  llvm::StringMap<bool> features;
  return llvm::sys::getHostCPUFeatures(features) && features.lookup("amx-tile") && features.lookup("amx-bf16");
}

std::vector<Mismatch> compare_with_reference(const ir::Graph& graph, const HarnessOptions& options) {
  plan::KernelPlan plan = plan::make_plan(graph, {.reuse_memory = false});  // every value is read back
  cpu::PlanRunner runner(plan, codegen::llvm_backend::compile_plan(test_jit(), plan, cpu::ThreadPool::global()),
                         cpu::ThreadPool::global());
  reference::Executor reference(graph);

  std::mt19937 rng(options.seed);
  std::uniform_real_distribution<float> uniform(-options.input_scale, options.input_scale);
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const plan::Buffer& b = plan.buffers[i];
    if (b.storage == plan::Storage::Arena) continue;
    if (b.view_of >= 0) continue;  // its source's memory (dropout in evaluation: the input's)
    std::vector<double> values(static_cast<size_t>(ir::numel(b.shape)));
    if (b.dtype == ir::DType::I32) {  // the labels, or dropout's seed and step
      const int64_t classes = label_classes(graph, b.value);
      for (size_t j = 0; j < values.size(); ++j) {
        auto label = static_cast<int32_t>(rng() % static_cast<unsigned>(classes));
        runner.int_buffer(static_cast<int>(i))[j] = label;
        values[j] = label;
      }
    } else {
      bool positive = options.positive_inputs || b.name.ends_with("running_var") || b.value == graph.learning_rate;
      const BatchnormAffine affine = options.batchnorm_near_identity ? batchnorm_affine(graph, b.value) : BatchnormAffine::No;
      for (size_t j = 0; j < values.size(); ++j) {
        float v = uniform(rng);
        if (affine != BatchnormAffine::No) v = batchnorm_affine_value(affine, v / options.input_scale);
        if (positive) v = std::abs(v) + 0.1f;
        runner.buffer(static_cast<int>(i))[j] = v;
        values[j] = v;
      }
    }
    reference.set(b.value, std::move(values));
  }
  runner.poison_arena();
  runner.run();
  reference.run();

  std::vector<Mismatch> out;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const plan::Buffer& b = plan.buffers[i];
    if (b.storage == plan::Storage::Input) continue;
    const std::vector<double>& want = reference.get(b.value);
    std::span<const float> got = runner.buffer(static_cast<int>(i)).first(want.size());
    double scale = 1e-6, worst = 0;
    for (double w : want) scale = std::max(scale, std::abs(w));
    for (size_t j = 0; j < want.size(); ++j) {
      double e = std::abs(static_cast<double>(got[j]) - want[j]) / scale;
      if (!std::isfinite(got[j])) e = INFINITY;
      worst = std::max(worst, e);
    }
    if (!(worst <= options.tolerance)) out.push_back({b.name, worst});
  }
  return out;
}

std::string describe(const std::vector<Mismatch>& mismatches) {
  std::string out;
  for (const Mismatch& m : mismatches) out += fmt::format("{}: relative error {:.3g}; ", m.value, m.error);
  return out.empty() ? "all values match" : out;
}

}  // namespace resnetc::testing
