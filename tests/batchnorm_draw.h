#pragma once
// BatchNorm's weight and bias drawn near the identity (weight in [0.5, 1.5], bias in
// [-0.5, 0.5]) for whole training steps, as the test harnesses draw them when asked.
//
// Drawn from [-1, 1] like every other input, a channel's weight is often near 0 (on the grid of
// 0.25 the tied-input runs use, exactly 0 one time in eight) or small beside its bias: the
// channel after the ReLU is then constant, entirely zero or entirely passed. Behind a 1x1 conv
// or a pooling layer that feeds the next BatchNorm, the gradients of such a channel are
// mathematically zero (BatchNorm's input gradient sums to zero over a channel and is orthogonal
// to its input), so what a backend and the reference compute there is float and double rounding
// left over from sums of terms 1e4 to 1e16 times larger, compared relative to a maximum that is
// itself that rounding. With weight >= 0.5 and |bias| <= 0.5 a channel loses all its values on
// one side of the ReLU only if its normalized values stay within (-1, 1) on that side, which a
// channel of a few dozen values hardly ever does (0 of 400 seeds of the ResNet-D step failed,
// against 80 of 400 drawn from [-1, 1]).
#include <string>
#include <utility>

#include "compiler/ir/graph.h"

namespace resnetc::testing {

enum class BatchnormAffine { No, Weight, Bias };

// Whether `id` is a BatchNorm's weight or bias: a parameter "P.weight" or "P.bias" of a graph
// holding the running variance "P.running_var" (the names every network's BatchNorm gets).
inline BatchnormAffine batchnorm_affine(const ir::Graph& graph, ir::ValueId id) {
  const ir::Value& v = graph.value(id);
  if (v.role != ir::ValueRole::Parameter || v.shape.size() != 1) return BatchnormAffine::No;
  for (const auto& [suffix, kind] : {std::pair{".weight", BatchnormAffine::Weight}, std::pair{".bias", BatchnormAffine::Bias}}) {
    if (!v.name.ends_with(suffix)) continue;
    const std::string running_var = v.name.substr(0, v.name.size() - std::string(suffix).size()) + ".running_var";
    for (const ir::Value& other : graph.values)
      if (other.name == running_var) return kind;
  }
  return BatchnormAffine::No;
}

// `unit` drawn from [-1, 1]: the value near the identity for a weight or a bias.
inline float batchnorm_affine_value(BatchnormAffine kind, float unit) {
  return kind == BatchnormAffine::Weight ? 1.0f + 0.5f * unit : 0.5f * unit;
}

}  // namespace resnetc::testing
