#pragma once
// `resnetc train` as one rank of an MPI job (docs/distributed.md): joining the job that mpirun
// started, or starting one with --nproc.
#include <memory>

#include "tools/resnetc/options.h"
#include "train/distributed.h"

namespace resnetc::cli {

// None for a single process (mpirun did not start it; MPI is never loaded). With --nproc N and
// no job yet, replaces this process with `mpirun -np N` of itself and does not return. Every
// rank but 0 writes nothing to stdout: every report is rank 0's.
std::unique_ptr<train::DataParallel> join_job(const Options& o);

// --bucket-mb and --sync-bn: where training's all-reduces go (compiler/plan/collectives.h).
plan::CollectiveOptions collective_options(const Options& o);

// `o` for one rank of `job`: unless --threads says, its share of this machine's cores.
Options for_rank(const Options& o, const train::DataParallel* job);

}  // namespace resnetc::cli
