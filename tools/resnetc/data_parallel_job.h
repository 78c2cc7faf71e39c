#pragma once
// `resnetc train` (and eval) as one rank of an MPI job (docs/distributed.md): joining the job
// that mpirun started, or starting one with --nproc; and leaving it, after the command or after
// an error.
#include <string_view>

#include "tools/resnetc/options.h"
#include "train/distributed.h"

namespace resnetc::cli {

// None for a single process (mpirun did not start it; MPI is never loaded). With --nproc N and
// no job yet, replaces this process with `mpirun -np N` of itself and does not return. Every
// rank but 0 writes nothing to stdout: every report is rank 0's. The job is kept until
// leave_job() or print_error(), and watched for hung ranks (--collective-timeout).
train::DataParallel* join_job(const Options& o);

// After a command that returned: MPI is finalized (with every rank).
void leave_job();

// An error that ended the command, on stderr. In a job, printed once by rank 0 when every rank
// failed alike, else prefixed with the rank (mpi/shared_error.h); the process then ends with
// `status` without finalizing MPI, which would wait for ranks still in a collective (mpirun
// ends the job when a rank exits without it).
void print_error(std::string_view text, int status = 1);

// A bad command line (status 2), before any job was joined. In a job of several ranks it is
// printed as print_error prints: a rank joins MPI only to compare the message with the other
// ranks', so one command line given to every rank is refused once. A rank that cannot load MPI
// prints it with its rank.
void print_usage_error(std::string_view text);

// Whether this process prints what needs no job (--help, --version, --prelude, --list-passes):
// a single process, or rank 0 of a job mpirun started, so `mpirun -np 2 resnetc --help` prints
// it once.
bool prints_job_free_output();

// --bucket-mb and --sync-bn: where training's all-reduces go (compiler/plan/collectives.h).
plan::CollectiveOptions collective_options(const Options& o);

// `o` for one rank of `job`: unless --threads says, its share of this machine's cores.
Options for_rank(const Options& o, const train::DataParallel* job);

// While it lives, `job` (when there is one) sums its gradients on `backend`'s device where the
// backend can (NCCL on GPUs), so the device's collectives end before the backend does.
class DeviceReduction {
 public:
  DeviceReduction(train::DataParallel* job, train::Backend& backend);
  ~DeviceReduction();
  DeviceReduction(const DeviceReduction&) = delete;
  DeviceReduction& operator=(const DeviceReduction&) = delete;

 private:
  train::DataParallel* job_;
};

}  // namespace resnetc::cli
