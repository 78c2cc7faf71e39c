#include "runtime/mpi/mpi_library.h"

#include <dlfcn.h>

#include <fmt/format.h>

#include "runtime/mpi/communicator.h"

namespace resnetc::mpi::detail {
namespace {

void* resolve(void* library, const char* library_name, const char* symbol) {
  void* address = dlsym(library, symbol);
  if (address == nullptr)
    throw MpiError(fmt::format("{} has no symbol {}: resnetc needs OpenMPI (3.0 or later)", library_name, symbol));
  return address;
}

}  // namespace

#define RESNETC_MPI_FUNCTION(member, name) \
  api.member = reinterpret_cast<decltype(&::name)>(resolve(handle, library, #name))
#define RESNETC_MPI_HANDLE(member, type, symbol) \
  api.member = static_cast<type>(resolve(handle, library, #symbol))

MpiApi load_mpi_api(const char* library) {
  // Never dlclose'd: MPI keeps threads and handlers until the process exits.
  void* handle = dlopen(library, RTLD_NOW | RTLD_GLOBAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    throw MpiError(fmt::format("this process was started by mpirun, but OpenMPI's library could not be loaded ({}): "
                               "install openmpi-bin on every machine of the job",
                               why != nullptr ? why : library));
  }
  MpiApi api{};
  RESNETC_MPI_FUNCTION(init_thread, MPI_Init_thread);
  RESNETC_MPI_FUNCTION(initialized, MPI_Initialized);
  RESNETC_MPI_FUNCTION(finalize, MPI_Finalize);
  RESNETC_MPI_FUNCTION(comm_rank, MPI_Comm_rank);
  RESNETC_MPI_FUNCTION(comm_size, MPI_Comm_size);
  RESNETC_MPI_FUNCTION(allreduce, MPI_Allreduce);
  RESNETC_MPI_FUNCTION(allgather, MPI_Allgather);
  RESNETC_MPI_FUNCTION(barrier, MPI_Barrier);
  RESNETC_MPI_FUNCTION(bcast, MPI_Bcast);
  RESNETC_MPI_FUNCTION(error_string, MPI_Error_string);
  RESNETC_MPI_HANDLE(comm_world, MPI_Comm, ompi_mpi_comm_world);
  RESNETC_MPI_HANDLE(float_type, MPI_Datatype, ompi_mpi_float);
  RESNETC_MPI_HANDLE(double_type, MPI_Datatype, ompi_mpi_double);
  RESNETC_MPI_HANDLE(int64_type, MPI_Datatype, ompi_mpi_int64_t);
  RESNETC_MPI_HANDLE(byte_type, MPI_Datatype, ompi_mpi_byte);
  RESNETC_MPI_HANDLE(sum, MPI_Op, ompi_mpi_op_sum);
  RESNETC_MPI_HANDLE(max, MPI_Op, ompi_mpi_op_max);
  return api;
}

#undef RESNETC_MPI_HANDLE
#undef RESNETC_MPI_FUNCTION

}  // namespace resnetc::mpi::detail
