#pragma once
// Internal: the MPI entry points and predefined handles, resolved from OpenMPI's libmpi with
// dlsym at run time (as runtime/cuda/driver_api.h loads the NVIDIA driver).
//
// Why at run time and not a build option: one binary then serves a laptop without MPI and a
// cluster with it, CI tests the very binary users run, and a single process never loads MPI
// at all (so it behaves exactly as before). <mpi.h> is included for its types and prototypes
// only. The handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are OpenMPI's: addresses of its
// predefined objects, looked up by their symbols (ompi_mpi_comm_world, ...); MPICH's ABI,
// whose handles are integer constants, is not supported.
// OpenMPI's deprecated C++ bindings are inline code that references libmpi's symbols: left out.
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>

namespace resnetc::mpi::detail {

struct MpiApi {
  decltype(&::MPI_Init_thread) init_thread;
  decltype(&::MPI_Initialized) initialized;
  decltype(&::MPI_Finalize) finalize;
  decltype(&::MPI_Comm_rank) comm_rank;
  decltype(&::MPI_Comm_size) comm_size;
  decltype(&::MPI_Allreduce) allreduce;
  decltype(&::MPI_Allgather) allgather;
  decltype(&::MPI_Barrier) barrier;
  decltype(&::MPI_Bcast) bcast;
  decltype(&::MPI_Error_string) error_string;
  MPI_Comm comm_world;
  MPI_Datatype float_type, double_type, int64_type, byte_type;
  MPI_Op sum, max;
};

// dlopen()s `library` (RTLD_GLOBAL: OpenMPI's own plugins resolve symbols of libmpi) and
// resolves every entry point and handle; throws MpiError naming the library and the reason.
MpiApi load_mpi_api(const char* library);

}  // namespace resnetc::mpi::detail
