#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "compiler/passes/pass.h"
#include "compiler/reference/executor.h"
#include "dsl/frontend.h"
#include "runtime/checkpoint/reader.h"
#include "train/model_state.h"

using namespace resnetc;

// Weights PyTorch saved (safetensors.torch.save_file(model.state_dict())) for networks of
// torchvision's structure, read as --init reads them, give PyTorch's logits on the same real
// Fashion-MNIST images: names, layouts (OIHW convolutions, [out, in] fc) and every BatchNorm
// tensor land where they belong. Fixtures: tests/train/torchvision/make_fixtures.py.

namespace {

const std::string kFixtures = std::string(RESNETC_SOURCE_DIR) + "/tests/train/torchvision/";
constexpr int64_t kImages = 8;  // as make_fixtures.py

struct Fixture {
  ir::Graph forward;
  plan::KernelPlan plan;  // evaluation, as the trainer's evaluator compiles it
  train::InitWeights weights;
  std::vector<float> images;  // [N, 1, 28, 28], /255 as PyTorch was fed
  std::vector<float> logits;  // PyTorch's
};

std::vector<float> floats(const checkpoint::Tensor& t) {
  std::vector<float> out(t.data.size() / sizeof(float));
  std::memcpy(out.data(), t.data.data(), t.data.size());
  return out;
}

Fixture load(const std::string& name) {
  dsl::SourceManager sources;
  Fixture f;
  f.forward = dsl::compile_file(sources, kFixtures + name + ".net", {std::nullopt, kImages}).graph;
  f.plan = passes::optimized_plan(f.forward, {});
  f.weights = train::read_init_weights(kFixtures + name + ".safetensors", f.forward, f.plan, false);
  const checkpoint::Checkpoint expected = checkpoint::read_safetensors(kFixtures + name + ".expected.safetensors");
  const checkpoint::Tensor& images = expected.at("images");
  REQUIRE(images.dtype == checkpoint::DType::U8);
  for (std::byte b : images.data) f.images.push_back(static_cast<float>(std::to_integer<int>(b)) / 255.0f);
  f.logits = floats(expected.at("logits"));
  REQUIRE(f.images.size() == static_cast<size_t>(ir::numel(f.forward.shape(f.forward.input))));
  REQUIRE(f.logits.size() == static_cast<size_t>(ir::numel(f.forward.shape(f.forward.output))));
  return f;
}

// The largest difference, relative to the largest logit (at least 1).
double worst_difference(const std::vector<double>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  double scale = 1, worst = 0;
  for (float w : want) scale = std::max(scale, std::abs(static_cast<double>(w)));
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  return worst / scale;
}

}  // namespace

TEST_CASE("a PyTorch state dict read by torchvision's names gives PyTorch's logits") {
  for (const char* name : {"tv_basic", "tv_bottleneck"}) {
    INFO(name);
    const Fixture f = load(name);
    CHECK(f.weights.torchvision_names);
    CHECK(f.weights.not_taken.empty());  // every tensor read; num_batches_tracked is not listed

    {  // the reference executor
      reference::Executor ex(f.forward);
      for (size_t i = 0; i < f.forward.values.size(); ++i) {
        const ir::Value& v = f.forward.values[i];
        if (v.role != ir::ValueRole::Parameter && v.role != ir::ValueRole::State) continue;
        const std::vector<float>& w = f.weights.taken.at(v.name);
        ex.set(static_cast<ir::ValueId>(i), std::vector<double>(w.begin(), w.end()));
      }
      ex.set(f.forward.input, std::vector<double>(f.images.begin(), f.images.end()));
      ex.run();
      CHECK(worst_difference(ex.get(f.forward.output), f.logits) < 1e-4);
    }
    {  // the LLVM backend
      codegen::llvm_backend::CpuBackend backend(cpu::ThreadPool::global());
      std::unique_ptr<train::PlanExecutor> exec = backend.compile(f.plan);
      train::write_state(*exec, f.plan, f.weights.taken);
      train::write_buffer(*exec, f.plan.input, std::span<const float>(f.images));
      exec->run();
      std::vector<float> logits(f.logits.size());
      train::read_buffer(*exec, f.plan.logits, std::span<float>(logits));
      CHECK(worst_difference(std::vector<double>(logits.begin(), logits.end()), f.logits) < 1e-4);
    }
  }
}

TEST_CASE("the same file with the classifier reset: everything else is read, the classifier left as it was") {
  const Fixture f = load("tv_basic");
  const train::InitWeights reset =
      train::read_init_weights(kFixtures + "tv_basic.safetensors", f.forward, f.plan, true);
  CHECK_FALSE(reset.taken.contains("head.fc.weight"));
  CHECK_FALSE(reset.taken.contains("head.fc.bias"));
  CHECK(reset.taken.size() + 2 == f.weights.taken.size());
  CHECK(reset.not_taken ==
        std::vector<std::string>{"head.fc.bias, head.fc.weight: the classifier, initialized (--reset-head)"});
}
