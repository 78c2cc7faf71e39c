#include "tools/resnetc/backend_choice.h"

#include <stdexcept>

#ifdef RESNETC_HAVE_LLVM
#include "compiler/codegen/llvm/cpu_backend.h"
#endif

namespace resnetc::cli {

std::unique_ptr<train::Backend> make_backend(const Options& o) {
  if (o.device == Device::Cuda)
    throw std::runtime_error("--device cuda: the CUDA backend is not part of this build yet; use --device cpu");
#ifdef RESNETC_HAVE_LLVM
  static cpu::ThreadPool pool(cpu::ThreadPool::Options{o.threads, 100});
  return std::make_unique<codegen::llvm_backend::CpuBackend>(pool);
#else
  throw std::runtime_error("this resnetc was built without the CPU backend (LLVM 14 was not found at build time)");
#endif
}

}  // namespace resnetc::cli
