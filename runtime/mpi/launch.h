#pragma once
// How this process was started: alone, or as one rank of a job that OpenMPI's mpirun
// launched (read from the environment mpirun sets, before MPI itself is loaded); and
// `resnetc train --nproc N`, which starts such a job on this machine.
#include <optional>

namespace resnetc::mpi {

struct Launch {
  int rank = 0;        // OMPI_COMM_WORLD_RANK
  int size = 1;        // OMPI_COMM_WORLD_SIZE
  int local_size = 1;  // OMPI_COMM_WORLD_LOCAL_SIZE: the ranks on this machine
  int local_rank = 0;  // OMPI_COMM_WORLD_LOCAL_RANK: this rank among them (its GPU)
};

// None: a single process that mpirun did not start (MPI is then never loaded).
std::optional<Launch> launched_by_mpirun();

// Threads for one rank's CPU kernels: the cores mpirun bound it to, or, when it is not bound,
// this machine's cores shared among its ranks (so N ranks do not each start a thread per core).
int threads_per_rank(const Launch& launch);

// Replaces this process with `mpirun -np N` running this binary with the same arguments (each
// rank then sees --nproc N and the job that mpirun made). Adds --oversubscribe (OpenMPI counts
// physical cores as its slots, and each rank sizes its own thread pool) and, for root,
// --allow-run-as-root. Throws MpiError when mpirun cannot be run.
[[noreturn]] void exec_mpirun(int nproc);

}  // namespace resnetc::mpi
