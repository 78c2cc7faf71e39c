#pragma once
// Whether this CPU can run a plan's precision (docs/precision.md): bf16 needs the AVX-512 BF16
// instructions (vdpbf16ps); there is no TF32 on a CPU.
#include <llvm/ADT/StringMap.h>

#include <optional>
#include <string>

#include "compiler/plan/kernel_plan.h"

namespace resnetc::codegen::llvm_backend {

// Why a CPU with `features` (LLVM's names, as llvm::sys::getHostCPUFeatures gives them) cannot
// run `precision`; nullopt when it can.
std::optional<std::string> cpu_precision_refusal(plan::Precision precision, const llvm::StringMap<bool>& features);

// Throws std::runtime_error with the reason when this host cannot run `plan`.
void check_host_precision(const plan::KernelPlan& plan);

}  // namespace resnetc::codegen::llvm_backend
