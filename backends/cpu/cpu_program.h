#pragma once
// A kernel plan compiled for the host CPU: every kernel emitted as LLVM IR, optimized at O3
// for this CPU and JIT-compiled (or, for modules the JIT's object cache holds, loaded from it),
// ready for runtime/cpu's PlanRunner.
#include <string>
#include <vector>

#include "compiler/codegen/llvm/jit.h"
#include "compiler/plan/kernel_plan.h"
#include "backends/cpu/plan_runner.h"
#include "runtime/cpu/thread_pool.h"

namespace resnetc::codegen::llvm_backend {

// Kernels are emitted into modules of this many, so the JIT's work splits across threads.
inline constexpr size_t kKernelsPerModule = 16;

// Compiles every kernel of `plan` for `pool` to run (their parallel loops are sized for its
// threads) and links them to the runtime (resnetc_parallel_for); the entry points stay valid as
// long as `jit` lives.
std::vector<cpu::KernelFn> compile_plan(Jit& jit, const plan::KernelPlan& plan, const cpu::ThreadPool& pool);

// `--emit=llvm`: the optimized LLVM IR of every kernel, as compile_plan generates it for `pool`,
// one module after another.
std::string plan_llvm_ir(Jit& jit, const plan::KernelPlan& plan, const cpu::ThreadPool& pool);

}  // namespace resnetc::codegen::llvm_backend
