#include "tests/train/reference_step.h"

#include <catch2/catch.hpp>

#include <cmath>

#include "compiler/plan/kernel_plan.h"
#include "compiler/reference/executor.h"
#include "runtime/data/resize.h"
#include "runtime/data/sampler.h"

namespace resnetc::testing {

void reference_step(const ir::Graph& g, const data::Split& train_data, std::span<const uint32_t> indices, float lr,
                    Weights& weights, std::vector<double> rng) {
  reference::Executor ex(g);
  const ir::Dims& input = g.shape(g.input);
  std::vector<float> images(static_cast<size_t>(ir::numel(input)));
  std::vector<int32_t> labels(indices.size());
  data::fill_batch(train_data, indices, data::Resizer(train_data.height, train_data.width, input[2], input[3]),
                   images.data(), labels.data());
  ex.set(g.input, {images.begin(), images.end()});
  ex.set(g.labels, {labels.begin(), labels.end()});
  ex.set(g.learning_rate, {lr});
  if (!rng.empty()) ex.set(g.rng, rng);
  const plan::KernelPlan p = plan::make_plan(g);
  for (const plan::Buffer& b : p.buffers)
    if (b.storage == plan::Storage::Persistent) ex.set(b.value, weights.at(b.name));
  ex.run();
  for (const plan::Buffer& b : p.buffers)
    if (b.storage == plan::Storage::Persistent) weights[b.name] = ex.get(b.value);
}

std::pair<double, std::string> worst_relative_error(const train::TensorMap& trained, const Weights& weights) {
  REQUIRE(trained.size() == weights.size());
  double worst = 0;
  std::string where;
  for (const auto& [name, got] : trained) {
    const std::vector<double>& want = weights.at(name);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      const double error = std::abs(got[i] - want[i]) / (1e-3 + std::abs(want[i]));
      if (error > worst) worst = error, where = name;
    }
  }
  return {worst, where};
}

}  // namespace resnetc::testing
