#include "compiler/codegen/llvm/jit.h"

#include <atomic>
#include <mutex>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/Analysis/AliasAnalysis.h>
#include <llvm/Analysis/CGSCCPassManager.h>
#include <llvm/Analysis/LoopAnalysisManager.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/PassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/SubtargetFeature.h>
#include <llvm/Passes/OptimizationLevel.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/Host.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include "compiler/codegen/llvm/object_cache.h"

namespace resnetc::codegen::llvm_backend {
namespace {

// Marks a module optimize() has run on, so add_module after optimized_ir does not run O3 twice.
constexpr const char* kOptimizedMarker = "resnetc.optimized";

[[noreturn]] void fail(std::string_view what, llvm::Error error) {
  throw JitError(fmt::format("JIT: {}: {}", what, llvm::toString(std::move(error))));
}

template <typename T>
T unwrap(std::string_view what, llvm::Expected<T> value) {
  if (!value) fail(what, value.takeError());
  return std::move(*value);
}

void check(std::string_view what, llvm::Error error) {
  if (error) fail(what, std::move(error));
}

void initialize_llvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

llvm::OptimizationLevel optimization_level(int level) {
  switch (level) {
    case 0: return llvm::OptimizationLevel::O0;
    case 1: return llvm::OptimizationLevel::O1;
    case 2: return llvm::OptimizationLevel::O2;
    default: return llvm::OptimizationLevel::O3;
  }
}

llvm::CodeGenOpt::Level codegen_level(int level) {
  switch (level) {
    case 0: return llvm::CodeGenOpt::None;
    case 1: return llvm::CodeGenOpt::Less;
    case 2: return llvm::CodeGenOpt::Default;
    default: return llvm::CodeGenOpt::Aggressive;
  }
}

// JitStats, counted from several threads.
struct Counters {
  std::atomic<int> optimized{0};
  std::atomic<int> compiled{0};
  std::atomic<int> cached{0};
};

// LLVM's code generator on one module (ORC's compile step, and Jit::compile's), counted, with
// the object handed to the cache. Unlike SimpleCompiler given the cache, it does not ask the
// cache first: Jit::cached_object asked before the module was optimized, when a hit still saved
// the O3 pipeline.
class CachingCompiler final : public llvm::orc::TMOwningSimpleCompiler {
 public:
  CachingCompiler(std::unique_ptr<llvm::TargetMachine> tm, llvm::ObjectCache* cache, Counters& counters)
      : TMOwningSimpleCompiler(std::move(tm)), cache_(cache), counters_(counters) {}

  llvm::Expected<CompileResult> operator()(llvm::Module& module) override {
    ++counters_.compiled;
    auto object = TMOwningSimpleCompiler::operator()(module);
    if (object && cache_ != nullptr) cache_->notifyObjectCompiled(&module, (*object)->getMemBufferRef());
    return object;
  }

 private:
  llvm::ObjectCache* cache_;
  Counters& counters_;
};

}  // namespace

struct Jit::Impl {
  JitOptions options;
  std::string cpu;
  std::string features;
  int vector_width = 0;
  std::unique_ptr<llvm::TargetMachine> target_machine;  // the host's, as detected: its triple and CPU
  std::optional<llvm::orc::JITTargetMachineBuilder> machine_builder;  // one machine per compile()
  std::optional<DiskObjectCache> cache;
  Counters counters;
  std::unique_ptr<llvm::orc::LLJIT> lljit;
  std::mutex errors_mutex;
  std::vector<std::string> session_errors;  // what ORC reported while materializing

  llvm::orc::JITDylib& library_or_main(Library* library) {
    return library != nullptr ? *library : lljit->getMainJITDylib();
  }

  std::string take_session_errors() {
    std::lock_guard lock(errors_mutex);
    std::string text;
    for (auto& e : session_errors) text += fmt::format(" ({})", e);
    session_errors.clear();
    return text;
  }
};

Jit::Jit(JitOptions options) : impl_(std::make_unique<Impl>()) {
  initialize_llvm();
  impl_->options = options;

  auto builder = unwrap("cannot detect the host", llvm::orc::JITTargetMachineBuilder::detectHost());
  if (options.cpu.empty()) {
    // detectHost() already did this in LLVM 14; spelled out so the choice is visible here.
    builder.setCPU(llvm::sys::getHostCPUName().str());
    llvm::StringMap<bool> host_features;
    if (llvm::sys::getHostCPUFeatures(host_features)) {
      llvm::SubtargetFeatures features;
      for (auto& feature : host_features) features.AddFeature(feature.first(), feature.second);
      builder.getFeatures() = features;
    }
  } else {
    builder.setCPU(options.cpu);
    builder.getFeatures() = llvm::SubtargetFeatures();
  }
  if (!options.features.empty()) {
    llvm::SubtargetFeatures extra(options.features);
    for (const auto& feature : extra.getFeatures()) {
      // Appended after the host's: a later entry wins, and "-avx512f" also switches off
      // what implies it (avx512bw, ...) when LLVM applies the list in order.
      builder.getFeatures().AddFeature(feature);
    }
  }
  builder.setCodeGenOptLevel(codegen_level(options.opt_level));
  impl_->cpu = builder.getCPU();
  impl_->features = builder.getFeatures().getString();

  impl_->vector_width = options.prefer_vector_width;
  if (impl_->vector_width < 0) impl_->vector_width = has_feature("avx512f") ? 512 : 0;

  impl_->target_machine = unwrap("cannot create a target machine for " + impl_->cpu, builder.createTargetMachine());
  impl_->machine_builder = builder;
  if (!options.cache_dir.empty()) {
    // Everything besides the IR that decides the object code (the IR carries the data layout).
    impl_->cache.emplace(options.cache_dir,
                         std::vector<std::string>{"llvm " LLVM_VERSION_STRING, impl_->target_machine->getTargetTriple().str(),
                                                  impl_->cpu, impl_->features, fmt::format("O{}", options.opt_level),
                                                  fmt::format("prefer-vector-width {}", impl_->vector_width)});
  }
  auto compiler = [impl = impl_.get()](llvm::orc::JITTargetMachineBuilder target)
      -> llvm::Expected<std::unique_ptr<llvm::orc::IRCompileLayer::IRCompiler>> {
    auto machine = target.createTargetMachine();
    if (!machine) return machine.takeError();
    return std::make_unique<CachingCompiler>(std::move(*machine), impl->cache ? &*impl->cache : nullptr, impl->counters);
  };
  impl_->lljit = unwrap("cannot create the ORC JIT",
                        llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(builder).setCompileFunctionCreator(compiler).create());

  // Materialization errors (a module that fails to compile, a symbol nobody defines) reach
  // the session, not the lookup that triggered them: keep them for the exception's message.
  impl_->lljit->getExecutionSession().setErrorReporter([impl = impl_.get()](llvm::Error error) {
    std::lock_guard lock(impl->errors_mutex);
    impl->session_errors.push_back(llvm::toString(std::move(error)));
  });

  // Symbols of the process and its shared libraries (libm, libc) for the code's external calls.
  auto& main = impl_->lljit->getMainJITDylib();
  main.addGenerator(unwrap("cannot search the process for symbols",
                           llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
                               impl_->lljit->getDataLayout().getGlobalPrefix())));
}

Jit::~Jit() = default;

const std::string& Jit::cpu_name() const { return impl_->cpu; }
const std::string& Jit::cpu_features() const { return impl_->features; }
int Jit::prefer_vector_width() const { return impl_->vector_width; }

JitStats Jit::stats() const {
  return {impl_->counters.optimized.load(), impl_->counters.compiled.load(), impl_->counters.cached.load()};
}

Jit::Library& Jit::new_library(std::string_view name) {
  // ORC only asserts this, in its debug builds.
  if (impl_->lljit->getExecutionSession().getJITDylibByName(llvm::StringRef(name.data(), name.size())) != nullptr)
    throw JitError(fmt::format("JIT: cannot create library `{}`: the name is taken", name));
  auto library = impl_->lljit->createJITDylib(std::string(name));
  if (!library) fail(fmt::format("cannot create library `{}`", name), library.takeError());
  library->addToLinkOrder(impl_->lljit->getMainJITDylib());
  return *library;
}

bool Jit::has_feature(std::string_view feature) const {
  // "+avx512f,...,-avx512f": as in LLVM, the last mention wins.
  bool enabled = false;
  std::string_view all = impl_->features;
  while (!all.empty()) {
    size_t comma = all.find(',');
    std::string_view entry = all.substr(0, comma);
    if (entry.size() == feature.size() + 1 && entry.substr(1) == feature) enabled = entry.front() == '+';
    if (comma == std::string_view::npos) break;
    all.remove_prefix(comma + 1);
  }
  return enabled;
}

const llvm::DataLayout& Jit::data_layout() const { return impl_->lljit->getDataLayout(); }
const llvm::Triple& Jit::triple() const { return impl_->lljit->getTargetTriple(); }
llvm::TargetMachine& Jit::target_machine() { return *impl_->target_machine; }

llvm::orc::ThreadSafeContext Jit::new_context() {
  return llvm::orc::ThreadSafeContext(std::make_unique<llvm::LLVMContext>());
}

std::unique_ptr<llvm::Module> Jit::new_module(std::string_view name, llvm::LLVMContext& context) const {
  auto module = std::make_unique<llvm::Module>(llvm::StringRef(name.data(), name.size()), context);
  module->setTargetTriple(triple().str());
  module->setDataLayout(data_layout());
  return module;
}

void Jit::optimize(llvm::Module& module) {
  if (module.getNamedMetadata(kOptimizedMarker)) return;

  if (impl_->options.verify) {
    std::string problems;
    llvm::raw_string_ostream out(problems);
    if (llvm::verifyModule(module, &out)) {
      out.flush();
      while (!problems.empty() && problems.back() == '\n') problems.pop_back();
      throw JitError(fmt::format("JIT: module `{}` is not valid IR: {}", module.getName().str(), problems));
    }
  }
  module.setTargetTriple(triple().str());
  module.setDataLayout(data_layout());
  if (impl_->vector_width > 0) {
    std::string width = std::to_string(impl_->vector_width);
    for (auto& function : module) {
      if (!function.isDeclaration() && !function.hasFnAttribute("prefer-vector-width")) {
        function.addFnAttr("prefer-vector-width", width);
      }
    }
  }

  // The new pass manager, set up as opt and clang do. Two things are easy to miss in LLVM 14:
  //  - the default AA pipeline must be registered by hand before registerFunctionAnalyses,
  //    or the "aa" analysis is an empty AAManager and noalias arguments buy nothing;
  //  - TargetIRAnalysis must come from the target machine, or the cost model assumes a
  //    generic target without vector registers and the loop vectorizer does nothing useful.
  //    PassBuilder(TM) registers it too; registering first makes the dependence explicit.
  // The target machine is this call's own: the cost model asks it for each function's subtarget,
  // which it caches in a map it does not lock, and plans are optimized on several threads at once
  // (sharing one crashed LLVM's inliner now and then).
  std::unique_ptr<llvm::TargetMachine> machine =
      unwrap("cannot create a target machine for " + impl_->cpu, impl_->machine_builder->createTargetMachine());
  llvm::LoopAnalysisManager loop_am;
  llvm::FunctionAnalysisManager function_am;
  llvm::CGSCCAnalysisManager cgscc_am;
  llvm::ModuleAnalysisManager module_am;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = impl_->options.opt_level >= 2;
  tuning.SLPVectorization = impl_->options.opt_level >= 2;
  tuning.LoopUnrolling = impl_->options.opt_level >= 1;
  llvm::PassBuilder passes(machine.get(), tuning);
  function_am.registerPass([&] { return machine->getTargetIRAnalysis(); });
  function_am.registerPass([&] { return passes.buildDefaultAAPipeline(); });
  passes.registerModuleAnalyses(module_am);
  passes.registerCGSCCAnalyses(cgscc_am);
  passes.registerFunctionAnalyses(function_am);
  passes.registerLoopAnalyses(loop_am);
  passes.crossRegisterProxies(loop_am, function_am, cgscc_am, module_am);

  auto level = optimization_level(impl_->options.opt_level);
  llvm::ModulePassManager pipeline = level == llvm::OptimizationLevel::O0
                                         ? passes.buildO0DefaultPipeline(level)
                                         : passes.buildPerModuleDefaultPipeline(level);
  pipeline.run(module, module_am);
  ++impl_->counters.optimized;

  module.getOrInsertNamedMetadata(kOptimizedMarker);
}

std::string Jit::optimized_ir(llvm::Module& module) {
  optimize(module);
  std::string text;
  llvm::raw_string_ostream out(text);
  module.print(out, nullptr);
  out.flush();
  return text;
}

std::unique_ptr<llvm::MemoryBuffer> Jit::cached_object(llvm::Module& module) {
  if (!impl_->cache) return nullptr;
  impl_->cache->assign_key(module);
  std::unique_ptr<llvm::MemoryBuffer> object = impl_->cache->getObject(&module);
  if (object) ++impl_->counters.cached;
  return object;
}

std::unique_ptr<llvm::MemoryBuffer> Jit::compile(llvm::Module& module) {
  optimize(module);
  // A target machine is not safe to share between threads generating code; each call has its own.
  CachingCompiler compiler(unwrap("cannot create a target machine for " + impl_->cpu, impl_->machine_builder->createTargetMachine()),
                           impl_->cache ? &*impl_->cache : nullptr, impl_->counters);
  return unwrap(fmt::format("cannot compile module `{}`", module.getName().str()), compiler(module));
}

void Jit::add_module(std::unique_ptr<llvm::Module> module, llvm::orc::ThreadSafeContext context, Library* library) {
  if (!module) throw JitError("JIT: add_module: null module");
  if (&module->getContext() != context.getContext()) {
    throw JitError(fmt::format("JIT: add_module: module `{}` belongs to another LLVMContext", module->getName().str()));
  }
  std::string name = module->getName().str();
  {
    auto lock = context.getLock();
    optimize(*module);
  }
  check(fmt::format("cannot add module `{}`", name),
        impl_->lljit->addIRModule(impl_->library_or_main(library),
                                  llvm::orc::ThreadSafeModule(std::move(module), std::move(context))));
}

void Jit::add_object(std::unique_ptr<llvm::MemoryBuffer> object, Library* library) {
  if (!object) throw JitError("JIT: add_object: null object");
  std::string name = object->getBufferIdentifier().str();
  check(fmt::format("cannot add object `{}`", name),
        impl_->lljit->addObjectFile(impl_->library_or_main(library), std::move(object)));
}

void Jit::define_symbol(std::string_view name, std::uintptr_t address, Library* library) {
  llvm::orc::SymbolMap symbols;
  symbols[impl_->lljit->mangleAndIntern(llvm::StringRef(name.data(), name.size()))] =
      llvm::JITEvaluatedSymbol(static_cast<llvm::JITTargetAddress>(address),
                               llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable);
  check(fmt::format("cannot define symbol `{}`", name),
        impl_->library_or_main(library).define(llvm::orc::absoluteSymbols(std::move(symbols))));
}

std::uintptr_t Jit::lookup_address(std::string_view name, Library* library) {
  auto symbol = impl_->lljit->lookup(impl_->library_or_main(library),
                                     llvm::StringRef(name.data(), name.size()));
  if (!symbol) {
    std::string message = llvm::toString(symbol.takeError());
    throw JitError(fmt::format("JIT: cannot find symbol `{}`: {}{}", name, message, impl_->take_session_errors()));
  }
  return static_cast<std::uintptr_t>(symbol->getAddress());
}

}  // namespace resnetc::codegen::llvm_backend
