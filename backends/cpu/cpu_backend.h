#pragma once
// The CPU as a training backend: plans compiled by the LLVM JIT for this host, run on the
// thread pool. The JIT's options choose, among other things, whether compiled kernels are
// cached on disk (JitOptions::cache_dir; none by default).
#include <memory>

#include "compiler/codegen/llvm/jit.h"
#include "runtime/cpu/thread_pool.h"
#include "train/executor.h"

namespace resnetc::codegen::llvm_backend {

class CpuBackend : public train::Backend {
 public:
  explicit CpuBackend(cpu::ThreadPool& pool, JitOptions options = {});
  std::string device_name() const override;
  std::unique_ptr<train::PlanExecutor> compile(const plan::KernelPlan& plan) override;

 private:
  cpu::ThreadPool& pool_;
  Jit jit_;
};

}  // namespace resnetc::codegen::llvm_backend
