#pragma once
// Initial values of every persistent buffer of a training plan, as the book's training
// function sets them: Xavier-uniform conv and fc weights; PyTorch's defaults for the rest
// (biases uniform in ±1/sqrt(fan_in), BatchNorm scale 1 and shift 0, running mean 0 and
// variance 1, optimizer velocity 0).
#include <cstdint>
#include <span>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/plan/kernel_plan.h"
#include "train/executor.h"

namespace resnetc::train {

// Values for the parameter or state `value` of the training graph as autodiff made it (before
// the passes, which rewrite the ops this reads), drawn deterministically from `seed` and the
// value's id, so every optimization level starts from the same weights.
std::vector<float> initial_values(const ir::Graph& training, ir::ValueId value, uint64_t seed);

// Writes the initial values of every persistent buffer of `plan` (made from `training`, maybe
// optimized), found in `training` by name.
void initialize_persistent(PlanExecutor& exec, const plan::KernelPlan& plan, const ir::Graph& training, uint64_t seed);

}  // namespace resnetc::train
