#include "backends/cpu/plan_runner.h"

#include <chrono>
#include <limits>
#include <stdexcept>
#include <utility>

namespace resnetc::cpu {

PlanRunner::PlanRunner(const plan::KernelPlan& plan, std::vector<KernelFn> kernels, ThreadPool& pool)
    : PlanRunner(PlanMemory(plan), std::move(kernels), pool) {}

PlanRunner::PlanRunner(PlanMemory memory, std::vector<KernelFn> kernels, ThreadPool& pool)
    : memory_(std::move(memory)), kernels_(std::move(kernels)), pool_(pool) {
  const plan::KernelPlan& plan = memory_.plan();
  if (kernels_.size() != plan.kernels.size()) throw std::logic_error("PlanRunner: one function per kernel needed");
  for (const plan::Kernel& k : plan.kernels) {
    std::vector<void*> args;
    for (int in : k.inputs) args.push_back(buffer(in).data());
    if (k.output >= 0) args.push_back(buffer(k.output).data());
    if (k.epilogue_stats >= 0) args.push_back(buffer(k.epilogue_stats).data());  // after the output, as the kernel expects
    args_.push_back(std::move(args));
  }
}

std::span<int32_t> PlanRunner::int_buffer(int index) {
  std::span<float> f = buffer(index);
  return {reinterpret_cast<int32_t*>(f.data()), f.size()};
}

void PlanRunner::poison_arena() {
  for (size_t i = 0; i < plan().buffers.size(); ++i)
    if (plan().buffers[i].storage == plan::Storage::Arena)
      for (float& v : buffer(static_cast<int>(i))) v = std::numeric_limits<float>::quiet_NaN();
}

void PlanRunner::run(size_t first) {
  for (size_t i = first; i < kernels_.size(); ++i) kernels_[i](args_[i].data(), &pool_);
}

void PlanRunner::run(size_t first, size_t end) {
  for (size_t i = first; i < end; ++i) kernels_[i](args_[i].data(), &pool_);
}

void PlanRunner::run_timed(size_t first, std::span<double> seconds) {
  using Clock = std::chrono::steady_clock;
  for (size_t i = first; i < kernels_.size(); ++i) {
    const Clock::time_point start = Clock::now();
    kernels_[i](args_[i].data(), &pool_);  // returns when the pool's work for it is done
    seconds[i] += std::chrono::duration<double>(Clock::now() - start).count();
  }
}

}  // namespace resnetc::cpu
