// The CPU backend's JIT: LLVM's ORC LLJIT, set up for the host CPU (its real name and feature
// list, so AVX-512 is used where the machine has it), with modules optimized at O3 by the new
// pass manager before they are handed to ORC. Every LLVM error becomes a JitError.
//
//   Jit jit;                                             // host CPU, O3
//   auto tsc = Jit::new_context();
//   auto module = jit.new_module("kernels", *tsc.getContext());
//   ... build functions with IRBuilder (see loops.h) ...
//   std::string ir = jit.optimized_ir(*module);          // --emit=llvm (optional)
//   jit.add_module(std::move(module), tsc);
//   auto* saxpy = jit.lookup<void(float*, const float*, float)>("saxpy");
//
// Code is generated lazily: the first lookup of a module's symbol runs the back end on it. Or
// eagerly, on the caller's thread, so that several threads can compile modules at once:
//
//   jit.add_object(jit.compile(*module));
//
// With JitOptions::cache_dir set, compiled objects are kept on disk (object_cache.h) and a module
// whose object is there skips both optimization and code generation:
//
//   auto object = jit.cached_object(*module);      // before optimizing
//   jit.add_object(object ? std::move(object) : jit.compile(*module));  // compiled: also stored
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/DataLayout.h>
#include <llvm/IR/Module.h>

namespace llvm {
class MemoryBuffer;
class TargetMachine;
class Triple;
namespace orc {
class JITDylib;
}  // namespace orc
}  // namespace llvm

namespace resnetc::codegen::llvm_backend {

class JitError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct JitOptions {
  // Target CPU; empty: the host's (llvm::sys::getHostCPUName()).
  std::string cpu = {};
  // Target features, LLVM style ("+avx2,-avx512f"), applied after the host's own
  // (llvm::sys::getHostCPUFeatures()) when cpu is empty, or alone when cpu is given.
  std::string features = {};
  // 0..3: the IR pipeline (buildPerModuleDefaultPipeline(O<n>)) and the code generator level.
  int opt_level = 3;
  // Widest vectors the vectorizers should use, as the function attribute
  // "prefer-vector-width". -1: 512 when the target has avx512f (LLVM's Intel tunings otherwise
  // stop at 256), else the target's default; 0: the target's default; n: n bits.
  int prefer_vector_width = -1;
  // Run the IR verifier before optimizing (the message names the broken instruction).
  bool verify = true;
  // Where compiled objects are kept between runs (see object_cache.h); empty: no cache, every
  // module is optimized and compiled. Off unless asked for, so that tests and library users
  // never write into a directory they did not choose; resnetc's commands pass
  // object_cache_dir(--cache-dir).
  std::filesystem::path cache_dir = {};
};

// What a Jit has done with its modules so far (counts of modules).
struct JitStats {
  int optimized = 0;  // run through the O<opt_level> pipeline
  int compiled = 0;   // run through the code generator
  int cached = 0;     // found in the cache (cached_object): neither optimized nor compiled
};

class Jit {
 public:
  explicit Jit(JitOptions options = {});
  ~Jit();
  Jit(const Jit&) = delete;
  Jit& operator=(const Jit&) = delete;

  // What the code is generated for.
  const std::string& cpu_name() const;
  const std::string& cpu_features() const;  // "+avx512f,+fma,-amx-tile,..."
  bool has_feature(std::string_view feature) const;  // has_feature("avx512f")
  const llvm::DataLayout& data_layout() const;
  const llvm::Triple& triple() const;
  llvm::TargetMachine& target_machine();
  // Effective "prefer-vector-width" (0: target default).
  int prefer_vector_width() const;
  JitStats stats() const;

  // A namespace of symbols (an ORC JITDylib): what is added to one library and looked up in it
  // cannot clash with another's symbols; all of them see the main library's (define_symbol's,
  // the process's). Functions taking a Library* use the main library for null. Names are unique
  // (JitError for one taken).
  using Library = llvm::orc::JITDylib;
  Library& new_library(std::string_view name);

  // A fresh context for a group of modules (a ThreadSafeContext owns its LLVMContext).
  static llvm::orc::ThreadSafeContext new_context();
  // An empty module with this JIT's target triple and data layout.
  std::unique_ptr<llvm::Module> new_module(std::string_view name, llvm::LLVMContext& context) const;

  // Verifies the module, sets its triple and data layout, stamps the vector-width attribute on
  // its functions, and runs the O<opt_level> pipeline with the target's TargetIRAnalysis (so the
  // loop vectorizer knows the vector width). In place; a second call does nothing.
  void optimize(llvm::Module& module);
  // optimize(module), then the module as text: what --emit=llvm prints.
  std::string optimized_ir(llvm::Module& module);

  // The object code of `module` from the cache, or null: no cache_dir, or no valid entry. Keys
  // the module on its IR as it is now, so call it before optimize(); the key stays recorded in
  // the module, and the object compiled from it is stored under that key. Safe to call from
  // several threads at once for modules of different contexts.
  std::unique_ptr<llvm::MemoryBuffer> cached_object(llvm::Module& module);

  // Optimizes the module (unless already done) and gives it to ORC; its functions can then be
  // looked up. The context is the one the module was created in.
  void add_module(std::unique_ptr<llvm::Module> module, llvm::orc::ThreadSafeContext context,
                  Library* library = nullptr);
  // Optimizes the module (unless already done) and generates its object code now, storing it in
  // the cache when cached_object keyed the module. Safe to call from several threads at once for
  // modules of different contexts (optimize() is too).
  std::unique_ptr<llvm::MemoryBuffer> compile(llvm::Module& module);
  // Gives ORC an object file (from compile or cached_object); its functions can then be looked up.
  void add_object(std::unique_ptr<llvm::MemoryBuffer> object, Library* library = nullptr);

  // Makes `name` resolve to `address` in the code of `library` (and, for the main library, of
  // every library): runtime entry points such as resnetc_parallel_for, which the CPU backend
  // defines for its kernels (backends/cpu/cpu_program.cpp). Symbols of the process's shared
  // libraries (libm's expf, libc's memset) resolve without this.
  void define_symbol(std::string_view name, std::uintptr_t address, Library* library = nullptr);
  template <typename Fn>
  void define_function(std::string_view name, Fn* function, Library* library = nullptr) {
    define_symbol(name, reinterpret_cast<std::uintptr_t>(function), library);
  }

  // Address of a compiled symbol, generating code for its module on first use. Throws JitError
  // ("JIT: cannot find symbol `foo`: Symbols not found: [ foo ]") when it is missing or the
  // module fails to compile.
  std::uintptr_t lookup_address(std::string_view name, Library* library = nullptr);
  // lookup<void(float*, float)>("f") or lookup<void (*)(float*, float)>("f"): a typed pointer.
  template <typename Fn>
  auto lookup(std::string_view name, Library* library = nullptr) {
    using Pointer = std::conditional_t<std::is_function_v<Fn>, std::add_pointer_t<Fn>, Fn>;
    static_assert(std::is_pointer_v<Pointer> && std::is_function_v<std::remove_pointer_t<Pointer>>,
                  "lookup<F>: F must be a function type or a function pointer type");
    return reinterpret_cast<Pointer>(lookup_address(name, library));
  }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace resnetc::codegen::llvm_backend
