#pragma once
// The trainer's side of data-parallel training across the ranks of an MPI job
// (docs/distributed.md): every rank holds the whole model and trains its slice of each global
// batch; after the backward pass the gradients are averaged with one all-reduce, so every rank
// applies the same update and the weights stay identical. The step's loss and correct counts
// are summed the same way, so every report is global.
//
// The all-reduce goes between the plan's last backward kernel and its first update kernel
// (PlanExecutor::run_pausing_at). One all-reduce over all gradients, after the whole backward
// pass: buckets launched while the backward still runs are not done yet. On GPUs the gradients
// are summed on the device (DeviceReducer: NCCL), elsewhere on the host (MPI).
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "compiler/plan/kernel_plan.h"
#include "train/executor.h"
#include "train/model_state.h"
#include "train/recipe.h"

namespace resnetc::mpi {
class Communicator;
class Watchdog;
}

namespace resnetc::train {

// The examples of a batch that one rank trains: positions first .. first + count - 1.
struct Slice {
  int64_t first = 0, count = 0;
};

// Where a training plan's updates start, and the gradients its optimizer's updates read (in
// the step's arena, final once the kernels before `first_update` have run), each one's bytes
// once. Throws std::logic_error when a kernel that is not an update runs among the updates.
struct GradientBuffers {
  size_t first_update = 0;
  std::vector<int> buffers;
  int64_t floats = 0;
};
GradientBuffers gradient_buffers(const plan::KernelPlan& plan);

class DataParallel {
 public:
  // Joins the MPI job this process was started in (loads MPI, MPI_Init). `version`: this
  // binary's, compared across ranks by check_same_run.
  explicit DataParallel(std::string version);
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

  // One training step of `plan`: the forward and backward pass, then every rank's gradients
  // weighted by `share` (its examples over the step's, all ranks) and summed, then the updates.
  void run_step(PlanExecutor& executor, const plan::KernelPlan& plan, double share);

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
  struct Gradients {
    GradientBuffers where;
    std::vector<float> host;  // all of them, back to back, for the all-reduce on the host
  };
  Gradients& gradients_of(const plan::KernelPlan& plan);

  std::string version_;
  std::unique_ptr<mpi::Communicator> world_;
  std::unique_ptr<DeviceReducer> device_;
  std::unique_ptr<mpi::Watchdog> watchdog_;  // after world_: its thread ends before MPI is finalized
  std::map<const plan::KernelPlan*, Gradients> gradients_;
};

// The same for a run that may be a single process (`dp` null: the whole batch, run(), values
// as they are), so the training loop is written once.
Slice rank_slice(const DataParallel* dp, int64_t count);
void run_step(DataParallel* dp, PlanExecutor& executor, const plan::KernelPlan& plan, double share);
int64_t agreed_max(const DataParallel* dp, int64_t value);

}  // namespace resnetc::train
