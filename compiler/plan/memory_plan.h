#pragma once
// Arena memory planning: activations and gradients share arena bytes when their lifetimes do
// not overlap. Kernels run one after another in plan order (the CPU runner, and the CUDA
// executor on one stream), so a buffer is live from the kernel that writes it to the last
// kernel that reads it, or reads a view of it, both included: a kernel's inputs and its output
// never share bytes, which the emitters' noalias / __restrict__ parameters rely on.
#include "compiler/plan/kernel_plan.h"

namespace resnetc::plan {

// Moves every Arena buffer of `plan` (its kernels and views in place, offsets as make_plan
// laid them out without reuse) to an offset where it overlaps no buffer live at the same
// time, views following their sources, and sets the arena's size. The loss and the logits,
// which the runtime reads after a run, stay live to the end of the plan.
void plan_arena(KernelPlan& plan);

}  // namespace resnetc::plan
