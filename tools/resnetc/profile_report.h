#pragma once
// `resnetc bench --profile`: where a training step's time goes, kernel by kernel.
#include <cstddef>
#include <span>
#include <string>

#include "compiler/plan/kernel_plan.h"

namespace resnetc::cli {

// `seconds[k]` is plan kernel k's time summed over `steps` steps. Lists the `top` slowest
// kernels, then every kind of kernel, each with its time per step, share of the step, GFLOP/s
// (convolutions and fully connected layers) and GB/s (the bytes plan::bytes_moved counts).
std::string format_profile(const plan::KernelPlan& plan, std::span<const double> seconds, int64_t steps, size_t top);

}  // namespace resnetc::cli
