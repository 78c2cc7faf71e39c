#include "backends/cpu/cpu_program.h"

#include <fmt/format.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/MemoryBuffer.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "compiler/codegen/llvm/kernel_emitter.h"
#include "compiler/codegen/llvm/llvm_memory.h"
#include "backends/cpu/plan_memory.h"
#include "runtime/cpu/thread_pool.h"

namespace resnetc::codegen::llvm_backend {
namespace {

struct Unit {
  llvm::orc::ThreadSafeContext context;
  std::unique_ptr<llvm::Module> module;
};

// Each plan has a library of its own (Jit::new_library), so a kernel's symbol, and with it the
// plan's IR, does not depend on which plans the JIT compiled before.
std::string symbol(size_t kernel) { return fmt::format("k{}", kernel); }

size_t unit_count(const plan::KernelPlan& plan) { return (plan.kernels.size() + kKernelsPerModule - 1) / kKernelsPerModule; }

// Emits unit `u`'s kernels into a module of their own.
Unit emit_unit(Jit& jit, const plan::KernelPlan& plan, size_t u, const EmitOptions& options) {
  Unit unit{Jit::new_context(), nullptr};
  unit.module = jit.new_module(fmt::format("{}.{}", plan.name, u), *unit.context.getContext());
  const size_t end = std::min(plan.kernels.size(), (u + 1) * kKernelsPerModule);
  for (size_t i = u * kKernelsPerModule; i < end; ++i) emit_kernel(*unit.module, plan, i, symbol(i), options);
  return unit;
}

// What the kernels are generated for when `pool` runs them.
EmitOptions emit_options(const cpu::ThreadPool& pool) { return {.threads = pool.num_threads()}; }

// What an LlvmMemoryGuard prints if LLVM runs out of memory compiling `plan`.
std::string out_of_memory_message(const plan::KernelPlan& plan) {
  return fmt::format("resnetc: error: out of memory while LLVM compiled the kernels of {}; try a smaller --batch",
                     cpu::plan_description(plan));
}

// work(u) for every unit, on every core. O3 and code generation are most of a cold compile,
// emitting and hashing most of a warm one; all of it is per module. Each worker holds an
// LlvmMemoryGuard: LLVM cannot unwind from running out of memory.
template <typename Work>
void for_each_unit(size_t count, const std::string& oom_message, Work work) {
  const size_t workers = std::max<size_t>(1, std::min<size_t>(count, std::thread::hardware_concurrency()));
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(workers);
  try {
    for (size_t w = 0; w < workers; ++w)
      threads.emplace_back([&, w] {
        try {
          const LlvmMemoryGuard guard(oom_message);
          for (size_t u = w; u < count; u += workers) work(u);
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
}

}  // namespace

std::vector<cpu::KernelFn> compile_plan(Jit& jit, const plan::KernelPlan& plan, const cpu::ThreadPool& pool) {
  const EmitOptions options = emit_options(pool);
  static std::atomic<uint64_t> next_plan{0};
  const std::string oom_message = out_of_memory_message(plan);
  std::vector<std::unique_ptr<llvm::MemoryBuffer>> objects(unit_count(plan));
  for_each_unit(objects.size(), oom_message, [&](size_t u) {
    Unit unit = emit_unit(jit, plan, u, options);
    objects[u] = jit.cached_object(*unit.module);
    if (!objects[u]) objects[u] = jit.compile(*unit.module);
  });
  // Linking the objects (at the lookups) allocates inside LLVM too.
  const LlvmMemoryGuard guard(oom_message);
  Jit::Library& library = jit.new_library(fmt::format("plan{}", next_plan++));
  // The runtime entry point the kernels' parallel loops call (loops.h), in the plan's own
  // library: a Jit compiles many plans, and a library defines a name once.
  jit.define_function("resnetc_parallel_for", &resnetc_parallel_for, &library);
  for (auto& object : objects) jit.add_object(std::move(object), &library);
  std::vector<cpu::KernelFn> kernels;
  for (size_t i = 0; i < plan.kernels.size(); ++i)
    kernels.push_back(jit.lookup<cpu::KernelFn>(symbol(i) + ".entry", &library));
  return kernels;
}

std::string plan_llvm_ir(Jit& jit, const plan::KernelPlan& plan, const cpu::ThreadPool& pool) {
  const EmitOptions options = emit_options(pool);
  std::vector<std::string> modules(unit_count(plan));
  for_each_unit(modules.size(), out_of_memory_message(plan),
                [&](size_t u) { modules[u] = jit.optimized_ir(*emit_unit(jit, plan, u, options).module); });
  std::string out;
  for (const std::string& text : modules) out += text;
  return out;
}

}  // namespace resnetc::codegen::llvm_backend
