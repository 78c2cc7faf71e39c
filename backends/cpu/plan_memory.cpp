#include "backends/cpu/plan_memory.h"

#include <fmt/format.h>

namespace resnetc::cpu {

std::string plan_description(const plan::KernelPlan& plan) {
  const char* kind = plan.learning_rate >= 0 ? "training step" : "evaluation";
  if (plan.input < 0) return fmt::format("{}'s {}", plan.name, kind);
  return fmt::format("{}'s {} at batch {}", plan.name, kind, plan.buffer(plan.input).shape.at(0));
}

PlanMemory::PlanMemory(const plan::KernelPlan& plan) : plan_(&plan) {
  int64_t total = 0;
  for (int s = 0; s < 3; ++s) {
    base_[s] = total;
    total += plan::align_buffer(plan.storage_bytes[s]);
  }
  // Zeroed, so parameters start defined.
  bytes_ = host::allocate_zeroed(static_cast<size_t>(total), static_cast<size_t>(plan::kBufferAlignment),
                                 "the buffers of " + plan_description(plan), "; try a smaller --batch");
}

std::span<float> PlanMemory::buffer(int index) {
  const plan::Buffer& b = plan_->buffer(index);
  std::byte* base = bytes_.get() + base_[static_cast<int>(b.storage)] + b.offset;
  return {reinterpret_cast<float*>(base), static_cast<size_t>(b.bytes / 4)};
}

}  // namespace resnetc::cpu
