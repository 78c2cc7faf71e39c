#include "tools/resnetc/backend_choice.h"

#include <fmt/format.h>

#include <optional>
#include <stdexcept>

#include "runtime/mpi/launch.h"

#ifdef RESNETC_HAVE_LLVM
#include "backends/cpu/cpu_backend.h"
#include "compiler/codegen/llvm/object_cache.h"
#endif
#ifdef RESNETC_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace resnetc::cli {
namespace {

std::unique_ptr<train::Backend> cpu_backend(const Options& o) {
#ifdef RESNETC_HAVE_LLVM
  static cpu::ThreadPool pool(cpu::ThreadPool::Options{o.threads, 100});
  return std::make_unique<codegen::llvm_backend::CpuBackend>(
      pool, codegen::llvm_backend::JitOptions{.cache_dir = codegen::llvm_backend::object_cache_dir(o.cache_dir)});
#else
  (void)o;
  throw std::runtime_error("this resnetc was built without the CPU backend (LLVM 14 was not found at build time)");
#endif
}

}  // namespace

std::unique_ptr<train::Backend> make_backend(const Options& o) {
#ifdef RESNETC_HAVE_CUDA
  // device_count() throws the driver's own reason: not loadable (the loader's words) or cuInit failed.
  if (o.device == Device::Cuda && cuda::device_count() == 0)
    throw std::runtime_error("--device cuda: the NVIDIA driver reports no GPU");
  if (o.device == Device::Cuda || (o.device == Device::Auto && cuda::driver_available())) {
    // One GPU per rank of an MPI job: the rank's place among those on its machine.
    const std::optional<mpi::Launch> launch = mpi::launched_by_mpirun();
    const int gpu = launch ? launch->local_rank : 0;
    if (launch && gpu >= cuda::device_count())
      throw std::runtime_error(fmt::format("rank {} is process {} of {} on its machine, which has {} GPU(s): start one "
                                           "process per GPU, or add --device cpu",
                                           launch->rank, gpu + 1, launch->local_size, cuda::device_count()));
    return std::make_unique<cuda_backend::CudaBackend>(gpu, cuda::CacheOptions{o.cache_dir, true});
  }
#else
  if (o.device == Device::Cuda)
    throw std::runtime_error("--device cuda: this resnetc was built without the CUDA toolkit (NVRTC)");
#endif
  return cpu_backend(o);
}

}  // namespace resnetc::cli
