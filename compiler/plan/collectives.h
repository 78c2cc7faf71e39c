#pragma once
// Where data-parallel training's all-reduces go in a training plan (docs/distributed.md).
//
// The plan knows when each value is final: a gradient after the last kernel that writes its
// bytes, a BatchNorm's batch statistics after the kernel that computes them. So the compiler,
// not a hook in the trainer, places the collectives: each at a stop, a kernel index `at` before
// which the executor pauses (PlanExecutor::run_stopping_at) to hand the collective over.
//  - Gradient buckets (as PyTorch DDP's, about 25 MB) in the order the backward pass finishes
//    their gradients: each is launched at its stop while the backward goes on, and waited for
//    before the first update.
//  - With sync_batchnorm, one small all-reduce per BatchNorm of its [2, C] statistics (mean,
//    biased variance) between the kernel computing them and their first reader, and one of the
//    backward's [2, C] sums (sum(dy * xhat), sum(dy); passes/fuse_batchnorm_backward.cpp)
//    between the fused reduction computing them and the input gradient reading them.
#include <cstdint>
#include <string>
#include <vector>

#include "compiler/plan/kernel_plan.h"

namespace resnetc::plan {

// The gradients the optimizer's updates read, in the step's arena, each one's bytes once (a
// buffer two parameters share, as two BatchNorms' biases after cse, is listed once), and the
// first update kernel. Throws std::logic_error when a kernel that is not an update runs among
// the updates, or a gradient is not F32.
struct GradientBuffers {
  size_t first_update = 0;
  std::vector<int> buffers;
  int64_t floats = 0;
};
GradientBuffers gradient_buffers(const KernelPlan& plan);

enum class CollectiveKind : uint8_t {
  Gradients,          // a bucket of gradients: weighted by the rank's share of the batch, summed
  BatchNormForward,   // one BatchNorm's [2, C] mean and biased variance: made the whole batch's
  BatchNormBackward,  // its [2, C] sum(dy * xhat), sum(dy): weighted by the rank's share, summed
};

struct Collective {
  CollectiveKind kind = CollectiveKind::Gradients;
  // The stop: runs after kernel at - 1 (the last that writes its buffers) and before kernel at.
  size_t at = 0;
  std::vector<int> buffers;  // F32 arena buffers, in the order they are laid out for the call
  int64_t floats = 0;
  int statistics_of = -1;  // BatchNormForward: the [N, C, H, W] buffer whose statistics these are
};

struct CollectiveOptions {
  int64_t bucket_bytes = 25LL << 20;  // PyTorch DDP's bucket_cap_mb = 25
  bool sync_batchnorm = false;
};

// Ordered by stop; at one stop, BatchNorm's collectives come before the buckets (a bucket may
// hold BatchNorm's weight and bias gradients, views of the synchronized backward sums).
// The gradient buckets hold every gradient of gradient_buffers() once, their last stop at most
// first_update. Throws std::invalid_argument when sync_batchnorm is asked of a plan whose
// BatchNorm backward is not in the fused form (a bn_grad_input kernel sums internally).
std::vector<Collective> place_collectives(const KernelPlan& plan, const CollectiveOptions& options);

// `--emit=plan --collectives`: one line per collective, after the plan's.
std::string print_collectives(const KernelPlan& plan, const std::vector<Collective>& collectives);

}  // namespace resnetc::plan
