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

namespace resnetc::train {

// Values for buffer `index` of `plan` (a persistent one), drawn deterministically from `seed`.
std::vector<float> initial_values(const ir::Graph& graph, const plan::KernelPlan& plan, int index, uint64_t seed);

}  // namespace resnetc::train
