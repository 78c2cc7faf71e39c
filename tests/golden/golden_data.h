#pragma once
// What the golden tests share with their PyTorch scripts (make_resnet18_step.py,
// make_recipe_steps.py): the counter-based generator both sides fill every tensor with, the
// initial value rule, and reading a stored float32 tensor.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "runtime/checkpoint/reader.h"

namespace resnetc::testing::golden {

// The generator make_resnet18_step.py fills every tensor with (see there).
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline uint64_t name_seed(const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

inline std::vector<double> uniform(const std::string& name, size_t n) {
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i)
    out[i] = static_cast<float>(static_cast<double>(splitmix64(name_seed(name) + i) >> 40) / 16777216.0 * 2 - 1);
  return out;
}

inline std::vector<double> initial(const std::string& name, const ir::Dims& shape) {
  std::vector<double> u = uniform(name, static_cast<size_t>(ir::numel(shape)));
  for (double& v : u) {
    float f = static_cast<float>(v);
    if (name.ends_with("running_var")) f = 1 + 0.5f * std::abs(f);
    else if (name.ends_with("running_mean")) f = 0.1f * f;
    else if (shape.size() == 1 && name.find(".bn") != std::string::npos && name.ends_with("weight")) f = 1 + 0.1f * f;
    else if (shape.size() == 1) f = 0.1f * f;
    else f = f * static_cast<float>(std::sqrt(3.0 / static_cast<double>(ir::numel(shape) / shape[0])));
    v = f;
  }
  return u;
}

inline std::vector<double> golden(const checkpoint::Checkpoint& g, const std::string& name) {
  const checkpoint::Tensor& t = g.at(name);
  std::vector<double> out(t.data.size() / 4);
  for (size_t i = 0; i < out.size(); ++i) {
    float f;
    std::memcpy(&f, t.data.data() + 4 * i, 4);
    out[i] = f;
  }
  return out;
}

inline double relative_error(const std::vector<double>& got, const std::vector<double>& want) {
  if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
  double scale = 1e-12, worst = 0;
  for (double w : want) scale = std::max(scale, std::abs(w));
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  return worst / scale;
}

}  // namespace resnetc::testing::golden
