#pragma once
// Internal: NCCL's entry points, resolved from libnccl.so.2 with dlsym at run time (as
// runtime/cuda/driver_api.h loads the NVIDIA driver and runtime/mpi/mpi_library.h OpenMPI).
// <nccl.h> is included for its types and prototypes only: nothing links against libnccl, so
// resnetc starts on machines without it, and a process that is not a GPU rank of an MPI job
// never loads it.
#include <nccl.h>

namespace resnetc::nccl::detail {

struct NcclApi {
  decltype(&::ncclGetVersion) get_version;
  decltype(&::ncclGetUniqueId) get_unique_id;
  decltype(&::ncclCommInitRank) comm_init_rank;
  decltype(&::ncclCommDestroy) comm_destroy;
  decltype(&::ncclCommAbort) comm_abort;
  decltype(&::ncclCommGetAsyncError) comm_get_async_error;
  decltype(&::ncclGetErrorString) get_error_string;
  decltype(&::ncclGetLastError) get_last_error;
  decltype(&::ncclGroupStart) group_start;
  decltype(&::ncclGroupEnd) group_end;
  decltype(&::ncclAllReduce) all_reduce;
  decltype(&::ncclRedOpCreatePreMulSum) red_op_create_pre_mul_sum;
  decltype(&::ncclRedOpDestroy) red_op_destroy;
};

// The process-wide API: libnccl.so.2, or the library RESNETC_NCCL_LIBRARY names (the tests'
// fake), loaded on first use. Throws NcclError naming the library and the loader's reason.
const NcclApi& nccl();

}  // namespace resnetc::nccl::detail
