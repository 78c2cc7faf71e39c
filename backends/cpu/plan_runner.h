#pragma once
// Runs a compiled kernel plan on the CPU: owns the plan's memory (PlanMemory), hands each
// kernel its buffers' addresses, and runs the kernels in order.
#include <cstdint>
#include <span>
#include <vector>

#include "compiler/plan/kernel_plan.h"
#include "backends/cpu/plan_memory.h"
#include "runtime/cpu/thread_pool.h"

namespace resnetc::cpu {

// A compiled kernel: args holds its buffers' addresses (inputs, then the output, then a
// conv2d's epilogue statistics, plan::Kernel::epilogue_stats, if any).
using KernelFn = void (*)(void** args, void* pool);

class PlanRunner {
 public:
  // Allocates the plan's memory (throws host::OutOfMemory), or takes memory allocated before
  // the kernels were compiled.
  PlanRunner(const plan::KernelPlan& plan, std::vector<KernelFn> kernels, ThreadPool& pool);
  PlanRunner(PlanMemory memory, std::vector<KernelFn> kernels, ThreadPool& pool);

  // A buffer's memory, as floats (labels: reinterpret as int32).
  std::span<float> buffer(int index) { return memory_.buffer(index); }
  std::span<int32_t> int_buffer(int index);

  // Fills the arena with NaN, so an element a kernel forgets to write shows up in tests.
  void poison_arena();
  // Runs kernels first..end in order (first > 0: a preamble whose results are still valid).
  void run(size_t first = 0);
  // Runs kernels first..end - 1 in order.
  void run(size_t first, size_t end);
  // As run(), adding each kernel's wall-clock seconds to seconds[kernel] (plan order).
  void run_timed(size_t first, std::span<double> seconds);

  const plan::KernelPlan& plan() const { return memory_.plan(); }

 private:
  PlanMemory memory_;
  std::vector<KernelFn> kernels_;
  ThreadPool& pool_;
  std::vector<std::vector<void*>> args_;  // per kernel
};

}  // namespace resnetc::cpu
