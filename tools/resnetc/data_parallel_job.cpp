#include "tools/resnetc/data_parallel_job.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>

#include "runtime/mpi/communicator.h"
#include "runtime/mpi/launch.h"
#include "runtime/mpi/shared_error.h"
#include "runtime/mpi/side_channel.h"

namespace resnetc::cli {
namespace {

// How long a rank that failed waits for the others to fail alike before it prints its error.
constexpr double kErrorAgreementSeconds = 5;

struct Job {
  std::unique_ptr<train::DataParallel> data_parallel;
  std::unique_ptr<mpi::SideChannel> errors;  // print_error's agreement
};

// The job this process joined: it outlives the command, so that an error the command throws is
// reported across the ranks before the process ends.
std::unique_ptr<Job>& joined() {
  static std::unique_ptr<Job> job;
  return job;
}

// How mpirun started this process, or none also when its environment cannot be read: only for
// how an error is printed.
std::optional<mpi::Launch> launch_if_readable() {
  try {
    return mpi::launched_by_mpirun();
  } catch (const mpi::MpiError&) {
    return std::nullopt;
  }
}

}  // namespace

train::DataParallel* join_job(const Options& o) {
  const std::optional<mpi::Launch> launch = mpi::launched_by_mpirun();
  if (!launch) {
    if (o.nproc) mpi::exec_mpirun(static_cast<int>(*o.nproc));
    return nullptr;
  }
  auto job = std::make_unique<Job>();
  job->data_parallel = std::make_unique<train::DataParallel>(RESNETC_VERSION, collective_options(o));
  job->errors = std::make_unique<mpi::SideChannel>(job->data_parallel->world());
  if (o.collective_timeout > 0) job->data_parallel->watch(o.collective_timeout);
  train::DataParallel* joined_job = (joined() = std::move(job))->data_parallel.get();
  if (o.nproc && *o.nproc != launch->size)
    throw std::runtime_error(fmt::format("--nproc {} in a job that mpirun started with {} processes: give one or the "
                                         "other",
                                         *o.nproc, launch->size));
  if (joined_job->rank() != 0) {
    std::fflush(stdout);
    const int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, STDOUT_FILENO) < 0)
      throw std::runtime_error("a rank's standard output cannot be sent to /dev/null");
    close(null);
  }
  return joined_job;
}

void leave_job() { joined().reset(); }

void print_error(std::string_view text, int status) {
  if (joined()) {
    mpi::print_shared_error(*joined()->errors, text, stderr, kErrorAgreementSeconds);
    // _Exit: the watchdog's thread may be calling MPI still.
    std::fflush(nullptr);
    std::_Exit(status);
  }
  // A rank that failed before it joined its job (MPI not loaded) cannot agree with the others.
  const std::optional<mpi::Launch> launch = launch_if_readable();
  fmt::print(stderr, "{}", launch && launch->size > 1 ? mpi::rank_prefixed(launch->rank, text) : std::string(text));
}

void print_usage_error(std::string_view text) {
  const std::optional<mpi::Launch> launch = launch_if_readable();
  if (launch && launch->size > 1) {
    try {
      // MPI's world and then its first duplicate, as join_job makes them on ranks whose command
      // line parsed (DataParallel's construction calls no collective but MPI_Init_thread): that
      // duplicate is the channel print_error agrees on.
      mpi::Communicator world;
      mpi::SideChannel errors(world);
      mpi::print_shared_error(errors, text, stderr, kErrorAgreementSeconds);
      std::fflush(nullptr);
      std::_Exit(2);  // without MPI_Finalize, as print_error: other ranks may wait in a collective
    } catch (const mpi::MpiError&) {
      // MPI could not be loaded: no agreement; the message goes out with the rank (print_error).
    }
  }
  print_error(text, 2);
}

bool prints_job_free_output() {
  const std::optional<mpi::Launch> launch = launch_if_readable();
  return !launch || launch->rank == 0;
}

plan::CollectiveOptions collective_options(const Options& o) {
  return {.bucket_bytes = std::max<int64_t>(1, static_cast<int64_t>(o.bucket_mb * (1 << 20))), .sync_batchnorm = o.sync_bn};
}

Options for_rank(const Options& o, const train::DataParallel* job) {
  Options rank = o;
  if (job && o.threads == 0) rank.threads = mpi::threads_per_rank(*mpi::launched_by_mpirun());
  return rank;
}

DeviceReduction::DeviceReduction(train::DataParallel* job, train::Backend& backend) : job_(job) {
  if (job_)
    job_->reduce_on_device(backend.device_reducer(job_->rank(), job_->size(),
                                                  [&](std::span<std::byte> bytes) { job_->broadcast(bytes); }));
}

DeviceReduction::~DeviceReduction() {
  if (job_) job_->reduce_on_device(nullptr);
}

}  // namespace resnetc::cli
