#include "compiler/codegen/llvm/cpu_program.h"

#include <fmt/format.h>
#include <llvm/IR/Module.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "compiler/codegen/llvm/kernel_emitter.h"
#include "compiler/codegen/llvm/llvm_memory.h"

namespace resnetc::codegen::llvm_backend {
namespace {

struct Unit {
  llvm::orc::ThreadSafeContext context;
  std::unique_ptr<llvm::Module> module;
};

// Symbols are unique per compiled plan, since one JIT holds several (training and evaluation).
std::string symbol(uint64_t plan_id, size_t kernel) { return fmt::format("plan{}.k{}", plan_id, kernel); }

// Emits and optimizes kernels [begin, end) into one module.
Unit build_unit(Jit& jit, const plan::KernelPlan& plan, uint64_t plan_id, size_t begin, size_t end) {
  Unit u{Jit::new_context(), nullptr};
  u.module = jit.new_module(fmt::format("{}.{}", plan.name, begin / kKernelsPerModule), *u.context.getContext());
  for (size_t i = begin; i < end; ++i) emit_kernel(*u.module, plan, i, symbol(plan_id, i));
  jit.optimize(*u.module);
  return u;
}

// What an LlvmMemoryGuard prints if LLVM runs out of memory compiling `plan`.
std::string out_of_memory_message(const plan::KernelPlan& plan) {
  return fmt::format("resnetc: error: out of memory while LLVM compiled the kernels of {}; try a smaller --batch",
                     cpu::plan_description(plan));
}

std::vector<Unit> build_units(Jit& jit, const plan::KernelPlan& plan, uint64_t plan_id) {
  const size_t n = plan.kernels.size();
  const size_t count = (n + kKernelsPerModule - 1) / kKernelsPerModule;
  std::vector<Unit> units(count);
  // O3 dominates compile time: optimize the modules on every core.
  const size_t workers = std::max<size_t>(1, std::min<size_t>(count, std::thread::hardware_concurrency()));
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(workers);
  const std::string oom_message = out_of_memory_message(plan);
  try {
    for (size_t w = 0; w < workers; ++w)
      threads.emplace_back([&, w] {
        try {
          const LlvmMemoryGuard guard(oom_message);
          for (size_t u = w; u < count; u += workers)
            units[u] = build_unit(jit, plan, plan_id, u * kKernelsPerModule, std::min(n, (u + 1) * kKernelsPerModule));
        } catch (...) {
          errors[w] = std::current_exception();
        }
      });
  } catch (const std::system_error& e) {
    // Destroying a joinable std::thread calls std::terminate: join the ones started first.
    for (auto& t : threads) t.join();
    throw std::runtime_error(fmt::format("cannot start a thread to compile the kernels: {}", e.what()));
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return units;
}

}  // namespace

std::vector<cpu::KernelFn> compile_plan(Jit& jit, const plan::KernelPlan& plan) {
  static std::atomic<uint64_t> next_plan{0};
  const uint64_t plan_id = next_plan++;
  // ORC generates the machine code here, on this thread, at the lookups.
  const LlvmMemoryGuard guard(out_of_memory_message(plan));
  for (Unit& u : build_units(jit, plan, plan_id)) jit.add_module(std::move(u.module), std::move(u.context));
  std::vector<cpu::KernelFn> kernels;
  for (size_t i = 0; i < plan.kernels.size(); ++i)
    kernels.push_back(jit.lookup<cpu::KernelFn>(symbol(plan_id, i) + ".entry"));
  return kernels;
}

std::string plan_llvm_ir(Jit& jit, const plan::KernelPlan& plan) {
  std::string out;
  for (Unit& u : build_units(jit, plan, 0)) out += jit.optimized_ir(*u.module);
  return out;
}

}  // namespace resnetc::codegen::llvm_backend
