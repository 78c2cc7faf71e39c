#include "compiler/codegen/llvm/cpu_program.h"

#include <fmt/format.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/MemoryBuffer.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "compiler/codegen/llvm/kernel_emitter.h"

namespace resnetc::codegen::llvm_backend {
namespace {

// A module of kernels, optimized; or, when the cache had it, its object code instead.
struct Unit {
  llvm::orc::ThreadSafeContext context;
  std::unique_ptr<llvm::Module> module;
  std::unique_ptr<llvm::MemoryBuffer> object;
};

// Each plan has a library of its own (Jit::new_library), so a kernel's symbol, and with it the
// plan's IR, does not depend on which plans the JIT compiled before.
std::string symbol(size_t kernel) { return fmt::format("k{}", kernel); }

// Emits kernels [begin, end) into one module, then takes its object from the cache or optimizes it.
Unit build_unit(Jit& jit, const plan::KernelPlan& plan, size_t begin, size_t end, bool use_cache) {
  Unit u{Jit::new_context(), nullptr, nullptr};
  u.module = jit.new_module(fmt::format("{}.{}", plan.name, begin / kKernelsPerModule), *u.context.getContext());
  for (size_t i = begin; i < end; ++i) emit_kernel(*u.module, plan, i, symbol(i));
  if (use_cache) u.object = jit.cached_object(*u.module);
  if (u.object)
    u.module.reset();
  else
    jit.optimize(*u.module);
  return u;
}

std::vector<Unit> build_units(Jit& jit, const plan::KernelPlan& plan, bool use_cache) {
  const size_t n = plan.kernels.size();
  const size_t count = (n + kKernelsPerModule - 1) / kKernelsPerModule;
  std::vector<Unit> units(count);
  // Optimizing is most of a cold compile, emitting and hashing most of a warm one: every core.
  const size_t workers = std::max<size_t>(1, std::min<size_t>(count, std::thread::hardware_concurrency()));
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(workers);
  for (size_t w = 0; w < workers; ++w)
    threads.emplace_back([&, w] {
      try {
        for (size_t u = w; u < count; u += workers)
          units[u] = build_unit(jit, plan, u * kKernelsPerModule, std::min(n, (u + 1) * kKernelsPerModule), use_cache);
      } catch (...) {
        errors[w] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return units;
}

}  // namespace

std::vector<cpu::KernelFn> compile_plan(Jit& jit, const plan::KernelPlan& plan) {
  static std::atomic<uint64_t> next_plan{0};
  Jit::Library& library = jit.new_library(fmt::format("plan{}", next_plan++));
  for (Unit& u : build_units(jit, plan, true)) {
    if (u.object)
      jit.add_object(std::move(u.object), &library);
    else
      jit.add_module(std::move(u.module), std::move(u.context), &library);
  }
  std::vector<cpu::KernelFn> kernels;
  for (size_t i = 0; i < plan.kernels.size(); ++i)
    kernels.push_back(jit.lookup<cpu::KernelFn>(symbol(i) + ".entry", &library));
  return kernels;
}

std::string plan_llvm_ir(Jit& jit, const plan::KernelPlan& plan) {
  std::string out;
  for (Unit& u : build_units(jit, plan, false)) out += jit.optimized_ir(*u.module);
  return out;
}

}  // namespace resnetc::codegen::llvm_backend
