#pragma once
// Which of a bf16 plan's activations are stored as bfloat16 between kernels (docs/precision.md,
// "What runs in bf16"): those whose every reader either rounds them to bfloat16 anyway (a
// contraction's activation operand under bf16 operands) or only reads them in an elementwise
// program or a per-channel reduction, and whose writer is such a program. Storing them in
// bf16 halves the bytes both sides move and changes no contraction's operands.
#include "compiler/plan/kernel_plan.h"

namespace resnetc::plan {

// Under options.precision == Bf16 with options.bf16_activations, sets dtype BF16 and the
// bytes of every arena buffer that qualifies (storage_precision.cpp says which); else leaves
// the plan as it is. Runs before the plan's memory is laid out.
void store_activations_in_bf16(KernelPlan& plan, const PlanOptions& options);

}  // namespace resnetc::plan
