#include "runtime/cpu/plan_runner.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>

namespace resnetc::cpu {

void PlanRunner::Free::operator()(std::byte* p) const { std::free(p); }

PlanRunner::PlanRunner(const plan::KernelPlan& plan, std::vector<KernelFn> kernels, ThreadPool& pool)
    : plan_(plan), kernels_(std::move(kernels)), pool_(pool) {
  if (kernels_.size() != plan.kernels.size()) throw std::logic_error("PlanRunner: one function per kernel needed");
  for (int s = 0; s < 3; ++s) {
    // Aligned to 64 bytes as the plan's offsets are; zeroed so parameters start defined.
    size_t bytes = static_cast<size_t>(std::max<int64_t>(plan.storage_bytes[s], 64));
    auto* p = static_cast<std::byte*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, bytes);
    storage_[s].reset(p);
  }
  for (const plan::Kernel& k : plan.kernels) {
    std::vector<void*> args;
    for (int in : k.inputs) args.push_back(buffer(in).data());
    if (k.output >= 0) args.push_back(buffer(k.output).data());
    if (k.epilogue_stats >= 0) args.push_back(buffer(k.epilogue_stats).data());  // after the output, as the kernel expects
    args_.push_back(std::move(args));
  }
}

std::span<float> PlanRunner::buffer(int index) {
  const plan::Buffer& b = plan_.buffer(index);
  auto* base = storage_[static_cast<int>(b.storage)].get() + b.offset;
  return {reinterpret_cast<float*>(base), static_cast<size_t>(b.bytes / 4)};
}

std::span<int32_t> PlanRunner::int_buffer(int index) {
  std::span<float> f = buffer(index);
  return {reinterpret_cast<int32_t*>(f.data()), f.size()};
}

void PlanRunner::poison_arena() {
  for (size_t i = 0; i < plan_.buffers.size(); ++i)
    if (plan_.buffers[i].storage == plan::Storage::Arena)
      for (float& v : buffer(static_cast<int>(i))) v = std::numeric_limits<float>::quiet_NaN();
}

void PlanRunner::run(size_t first) {
  for (size_t i = first; i < kernels_.size(); ++i) kernels_[i](args_[i].data(), &pool_);
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
