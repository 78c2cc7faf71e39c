#pragma once
// The trainer's side of data-parallel training across the ranks of an MPI job
// (docs/distributed.md): every rank holds the whole model and trains its slice of each global
// batch; after the backward pass the gradients are averaged with one all-reduce, so every rank
// applies the same update and the weights stay identical. The step's loss and correct counts
// are summed the same way, so every report is global.
//
// The compiler places the all-reduces in the plan (compiler/plan/collectives.h): gradient
// buckets of about 25 MB, each handed at its stop in the backward pass to a thread that sums it
// across the ranks while the backward goes on (PlanExecutor::run_stopping_at); all are waited
// for and written back before the first update. With --sync-bn, BatchNorm's statistics and its
// backward's sums are summed too, at their stops, so BatchNorm sees the whole global batch. On GPUs the gradients are summed on the device
// (DeviceReducer: NCCL), each bucket from its stop on, beside the rest of the backward pass, and
// with --sync-bn BatchNorm's sums at their stops.
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "compiler/plan/collectives.h"
#include "compiler/plan/kernel_plan.h"
#include "train/executor.h"
#include "train/model_state.h"
#include "train/recipe.h"

namespace resnetc::mpi {
class Communicator;
class Watchdog;
class ReduceThread;
}

namespace resnetc::train {

// The examples of a batch that one rank trains: positions first .. first + count - 1.
struct Slice {
  int64_t first = 0, count = 0;
};

class DataParallel {
 public:
  // Joins the MPI job this process was started in (loads MPI, MPI_Init_thread). `version`:
  // this binary's, compared across ranks by check_same_run with the collectives' options.
  DataParallel(std::string version, plan::CollectiveOptions collectives);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  int rank() const;
  int size() const;

  // This rank's part of a batch of `count` examples: the ranks take consecutive slices, the
  // first count % size ranks one example more.
  Slice slice(int64_t count) const;

  // Refuses (std::runtime_error naming the first rank that differs from rank 0) a job whose
  // ranks run another binary version, another network or training plan, another recipe or
  // another data set.
  void check_same_run(const plan::KernelPlan& plan, const Recipe& recipe, int64_t train_count,
                      int64_t test_count) const;
  // Refuses a job whose ranks start from different weights (a checksum of every tensor).
  void check_same_weights(const TensorMap& state) const;

  // One training step of `plan`: the forward and backward pass, every rank's gradients weighted
  // by `share` (its examples over the step's, all ranks) and summed in buckets as the backward
  // finishes them, then the updates. With sync_batchnorm, BatchNorm's statistics are the
  // step's (all ranks') and its backward sums are weighted and summed as the gradients.
  void run_step(PlanExecutor& executor, const plan::KernelPlan& plan, double share);

  // Seconds of run_step so far, and of them the seconds spent waiting for all-reduces.
  double step_seconds() const { return step_seconds_; }
  double waiting_seconds() const { return waiting_seconds_; }

  void sum(std::span<double> values) const;
  int64_t max(int64_t value) const;
  void barrier() const;
  // Rank 0's `bytes` on every rank.
  void broadcast(std::span<std::byte> bytes) const;

  // From now on run_step sums the gradients where the backend keeps them, with `reducer` (NCCL
  // between GPUs: Backend::device_reducer), instead of copying them to the host for MPI. Null
  // keeps the host path.
  void reduce_on_device(std::unique_ptr<DeviceReducer> reducer);

  // Ends the job when a rank hangs for `timeout_seconds` (mpi::Watchdog), from now on.
  void watch(double timeout_seconds);
  // This rank now works on training step `step` (1, 2, ... over the whole run), for the watchdog.
  void at_step(int64_t step);
  const mpi::Communicator& world() const { return *world_; }

  // Every tensor of `state` (the same names and sizes on every rank) as rank 0 holds it: the
  // running statistics that sharded evaluation uses are the checkpoint's, rank 0's.
  void use_rank0_values(TensorMap& state) const;

 private:
  // A plan's collectives, the stops run_stopping_at takes (theirs, then first_update for the
  // wait), and each collective's staging on the host.
  struct Placed {
    std::vector<plan::Collective> collectives;
    std::vector<size_t> stops;
    std::vector<std::shared_ptr<std::vector<float>>> gradients;    // per collective; null unless Gradients
    std::vector<std::shared_ptr<std::vector<double>>> batchnorm;  // per collective; null unless BatchNorm
  };
  Placed& placed_in(const plan::KernelPlan& plan);
  void hand_over(PlanExecutor& executor, const plan::KernelPlan& plan, Placed& p, size_t i, double share);
  void write_back(PlanExecutor& executor, const plan::KernelPlan& plan, Placed& p, double share);
  void run_step_on_device(PlanExecutor& executor, const plan::KernelPlan& plan, double share);

  std::string version_;
  plan::CollectiveOptions options_;
  std::unique_ptr<mpi::Communicator> world_;
  std::unique_ptr<DeviceReducer> device_;
  std::unique_ptr<mpi::Watchdog> watchdog_;  // after world_: its thread ends before MPI is finalized
  std::unique_ptr<mpi::ReduceThread> reducer_;
  std::map<const plan::KernelPlan*, Placed> placed_;
  struct DeviceStep {
    std::vector<plan::Collective> collectives;
    size_t first_update = 0;
  };
  std::map<const plan::KernelPlan*, DeviceStep> device_steps_;  // with device_
  double step_seconds_ = 0, waiting_seconds_ = 0;
};

// The same for a run that may be a single process (`dp` null: the whole batch, run(), values
// as they are), so the training loop is written once.
Slice rank_slice(const DataParallel* dp, int64_t count);
void run_step(DataParallel* dp, PlanExecutor& executor, const plan::KernelPlan& plan, double share);
int64_t agreed_max(const DataParallel* dp, int64_t value);

}  // namespace resnetc::train
