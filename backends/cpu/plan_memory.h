#pragma once
// The three memories of a kernel plan (persistent, inputs, arena) in one allocation, zeroed
// and 64-byte aligned as the plan's offsets are. The CPU backend allocates them before it
// compiles anything: a batch too large for the machine fails at once, with a message, instead
// of after minutes of compiling or inside LLVM, which cannot recover from running out.
#include <cstdint>
#include <span>
#include <string>

#include "compiler/plan/kernel_plan.h"
#include "runtime/host/memory.h"

namespace resnetc::cpu {

// "tiny's training step at batch 4096" (or "evaluation"): how messages name a plan, in words
// the user recognises and with the number they can change.
std::string plan_description(const plan::KernelPlan& plan);

class PlanMemory {
 public:
  // Throws host::OutOfMemory: "out of memory allocating the buffers of tiny's training step
  // at batch 4096 (3.20 GiB); try a smaller --batch".
  explicit PlanMemory(const plan::KernelPlan& plan);

  // A buffer's memory, as floats (labels: reinterpret as int32).
  std::span<float> buffer(int index);
  const plan::KernelPlan& plan() const { return *plan_; }

 private:
  const plan::KernelPlan* plan_;
  host::Bytes bytes_;
  int64_t base_[3] = {0, 0, 0};  // where each storage starts in bytes_, by plan::Storage
};

}  // namespace resnetc::cpu
