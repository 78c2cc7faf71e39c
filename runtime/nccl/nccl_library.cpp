#include "runtime/nccl/nccl_library.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdlib>

#include "runtime/nccl/communicator.h"

namespace resnetc::nccl::detail {
namespace {

template <class Fn>
Fn resolve(void* library, const char* library_name, const char* symbol) {
  void* address = dlsym(library, symbol);
  if (address == nullptr)
    throw NcclError(fmt::format("{} has no entry point {}: resnetc needs NCCL 2.11 or later", library_name, symbol));
  return reinterpret_cast<Fn>(address);
}

#define RESNETC_NCCL_RESOLVE(member, name) api.member = resolve<decltype(&::name)>(handle, library, #name)

NcclApi load(const char* library) {
  // Never dlclose'd: NCCL keeps threads (its proxy) until the process exits.
  void* handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    throw NcclError(fmt::format("this GPU rank of an MPI job needs NCCL, and {} could not be loaded ({}): install "
                                "NCCL (libnccl2, or the CUDA toolkit's) on every machine of the job, or train with "
                                "--device cpu",
                                library, why != nullptr ? why : "unknown error"));
  }
  NcclApi api{};
  RESNETC_NCCL_RESOLVE(get_version, ncclGetVersion);
  RESNETC_NCCL_RESOLVE(get_unique_id, ncclGetUniqueId);
  RESNETC_NCCL_RESOLVE(comm_init_rank, ncclCommInitRank);
  RESNETC_NCCL_RESOLVE(comm_destroy, ncclCommDestroy);
  RESNETC_NCCL_RESOLVE(comm_abort, ncclCommAbort);
  RESNETC_NCCL_RESOLVE(comm_get_async_error, ncclCommGetAsyncError);
  RESNETC_NCCL_RESOLVE(get_error_string, ncclGetErrorString);
  RESNETC_NCCL_RESOLVE(get_last_error, ncclGetLastError);
  RESNETC_NCCL_RESOLVE(group_start, ncclGroupStart);
  RESNETC_NCCL_RESOLVE(group_end, ncclGroupEnd);
  RESNETC_NCCL_RESOLVE(all_reduce, ncclAllReduce);
  RESNETC_NCCL_RESOLVE(red_op_create_pre_mul_sum, ncclRedOpCreatePreMulSum);
  RESNETC_NCCL_RESOLVE(red_op_destroy, ncclRedOpDestroy);
  return api;
}

#undef RESNETC_NCCL_RESOLVE

}  // namespace

const NcclApi& nccl() {
  // A failed load throws out of the initialiser, so the next call tries again.
  static const NcclApi api = [] {
    const char* library = std::getenv("RESNETC_NCCL_LIBRARY");
    return load(library != nullptr && *library != '\0' ? library : "libnccl.so.2");
  }();
  return api;
}

}  // namespace resnetc::nccl::detail
