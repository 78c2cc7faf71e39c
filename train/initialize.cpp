#include "train/initialize.h"

#include <cmath>
#include <random>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

namespace resnetc::train {
namespace {

// The op that owns a value as its weight (input 1) or bias (input 2), or null.
const ir::Op* owner(const ir::Graph& g, ir::ValueId v, size_t* slot) {
  for (const ir::Op& op : g.ops)
    if (op.kind == ir::OpKind::Conv2d || op.kind == ir::OpKind::Linear || op.kind == ir::OpKind::BnApply ||
        op.kind == ir::OpKind::BatchNorm)
      for (size_t k = 1; k < op.inputs.size(); ++k)
        if (op.inputs[k] == v) {
          *slot = k;
          return &op;
        }
  return nullptr;
}

std::vector<float> uniform(size_t n, double bound, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> out(n);
  // 24 random bits give every float in [-bound, bound) the same chance on every platform.
  for (float& v : out) v = static_cast<float>((static_cast<double>(rng() >> 40) / 16777216.0 * 2 - 1) * bound);
  return out;
}

}  // namespace

std::vector<float> initial_values(const ir::Graph& g, ir::ValueId value, uint64_t seed) {
  const ir::Value& b = g.value(value);
  const auto n = static_cast<size_t>(ir::numel(b.shape));
  const uint64_t stream = seed * 1000003u + static_cast<uint64_t>(value);  // one stream per tensor
  size_t slot = 0;
  const ir::Op* op = owner(g, value, &slot);
  if (op && (op->kind == ir::OpKind::BnApply || op->kind == ir::OpKind::BatchNorm))
    // BnApply(x, stats, weight, bias); BatchNorm(x, weight, bias, mean, var).
    return std::vector<float>(n, slot == (op->kind == ir::OpKind::BnApply ? 2u : 1u) ? 1.0f : 0.0f);
  if (op) {
    const ir::Dims& w = g.shape(op->inputs[1]);
    int64_t receptive = w.size() == 4 ? w[2] * w[3] : 1;
    double fan_in = static_cast<double>(w[1] * receptive), fan_out = static_cast<double>(w[0] * receptive);
    if (slot == 1) return uniform(n, std::sqrt(6.0 / (fan_in + fan_out)), stream);  // Xavier uniform
    return uniform(n, 1.0 / std::sqrt(fan_in), stream);
  }
  return std::vector<float>(n, b.name.ends_with(".running_var") ? 1.0f : 0.0f);  // statistics, velocity
}

void initialize_persistent(PlanExecutor& exec, const plan::KernelPlan& plan, const ir::Graph& training, uint64_t seed) {
  std::unordered_map<std::string_view, ir::ValueId> by_name;
  for (size_t v = 0; v < training.values.size(); ++v) by_name.emplace(training.values[v].name, static_cast<ir::ValueId>(v));
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const plan::Buffer& b = plan.buffers[i];
    if (b.storage != plan::Storage::Persistent) continue;
    auto it = by_name.find(b.name);
    if (it == by_name.end())
      throw std::logic_error("initialize_persistent: the plan's buffer '" + b.name + "' is not in the training graph");
    write_buffer(exec, static_cast<int>(i), std::span<const float>(initial_values(training, it->second, seed)));
  }
}

}  // namespace resnetc::train
