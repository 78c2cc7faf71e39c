#include "tools/resnetc/data_parallel_job.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "runtime/mpi/launch.h"

namespace resnetc::cli {

std::unique_ptr<train::DataParallel> join_job(const Options& o) {
  const std::optional<mpi::Launch> launch = mpi::launched_by_mpirun();
  if (!launch) {
    if (o.nproc) mpi::exec_mpirun(static_cast<int>(*o.nproc));
    return nullptr;
  }
  if (o.nproc && *o.nproc != launch->size)
    throw std::runtime_error(fmt::format("--nproc {} in a job that mpirun started with {} processes: give one or the "
                                         "other",
                                         *o.nproc, launch->size));
  auto job = std::make_unique<train::DataParallel>(RESNETC_VERSION, collective_options(o));
  if (job->rank() != 0) {
    std::fflush(stdout);
    const int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, STDOUT_FILENO) < 0)
      throw std::runtime_error("a rank's standard output cannot be sent to /dev/null");
    close(null);
  }
  return job;
}

plan::CollectiveOptions collective_options(const Options& o) {
  return {.bucket_bytes = std::max<int64_t>(1, static_cast<int64_t>(o.bucket_mb * (1 << 20))), .sync_batchnorm = o.sync_bn};
}

Options for_rank(const Options& o, const train::DataParallel* job) {
  Options rank = o;
  if (job && o.threads == 0) rank.threads = mpi::threads_per_rank(*mpi::launched_by_mpirun());
  return rank;
}

}  // namespace resnetc::cli
