#include "backends/cpu/cpu_backend.h"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

#include "backends/cpu/cpu_precision.h"
#include "backends/cpu/cpu_program.h"
#include "backends/cpu/plan_runner.h"

namespace resnetc::codegen::llvm_backend {
namespace {

class CpuExecutor : public train::PlanExecutor {
 public:
  CpuExecutor(cpu::PlanMemory memory, std::vector<cpu::KernelFn> kernels, cpu::ThreadPool& pool)
      : runner_(std::move(memory), std::move(kernels), pool) {}

  void write(int buffer, std::span<const std::byte> bytes) override {
    std::span<float> dst = runner_.buffer(buffer);
    check(buffer, bytes.size(), dst.size_bytes());
    std::memcpy(dst.data(), bytes.data(), bytes.size());
    if (runner_.plan().buffer(buffer).storage == plan::Storage::Persistent) weights_changed_ = true;
  }
  void read(int buffer, std::span<std::byte> bytes) override {
    std::span<float> src = runner_.buffer(buffer);
    check(buffer, bytes.size(), src.size_bytes());
    std::memcpy(bytes.data(), src.data(), bytes.size());
  }
  // The preamble (folded weights) only after the weights changed.
  void run() override {
    runner_.run(weights_changed_ ? 0 : runner_.plan().preamble_kernels);
    weights_changed_ = false;
  }
  void run_pausing_at(size_t at, const std::function<void()>& between) override {
    const size_t stops[1] = {at};
    run_stopping_at(stops, [&](size_t) { between(); });
  }
  void run_stopping_at(std::span<const size_t> stops, const std::function<void(size_t)>& at_stop) override {
    size_t next = weights_changed_ ? 0 : runner_.plan().preamble_kernels;
    weights_changed_ = false;
    for (size_t i = 0; i < stops.size(); ++i) {
      if (stops[i] > next) {
        runner_.run(next, stops[i]);
        next = stops[i];
      }
      at_stop(i);
    }
    runner_.run(next, runner_.plan().kernels.size());
  }
  void run_timed(std::span<double> seconds) override {
    runner_.run_timed(weights_changed_ ? 0 : runner_.plan().preamble_kernels, seconds);
    weights_changed_ = false;
  }

 private:
  void check(int buffer, size_t given, size_t size) {
    if (given != size)
      throw std::logic_error(fmt::format("buffer '{}' holds {} bytes, not {}", runner_.plan().buffer(buffer).name, size, given));
  }
  cpu::PlanRunner runner_;
  bool weights_changed_ = true;
};

}  // namespace

CpuBackend::CpuBackend(cpu::ThreadPool& pool, JitOptions options) : pool_(pool), jit_(std::move(options)) {}

std::string CpuBackend::device_name() const { return "cpu"; }

std::unique_ptr<train::PlanExecutor> CpuBackend::compile(const plan::KernelPlan& plan) {
  // The memory first: a batch too large for it fails here, with a message, before LLVM spends
  // minutes compiling (and memory it could not give back if it ran out).
  check_host_precision(plan);
  cpu::PlanMemory memory(plan);
  std::vector<cpu::KernelFn> kernels = compile_plan(jit_, plan, pool_);
  return std::make_unique<CpuExecutor>(std::move(memory), std::move(kernels), pool_);
}

}  // namespace resnetc::codegen::llvm_backend
