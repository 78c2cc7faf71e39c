#pragma once
// What the trainer needs from a backend: a compiled kernel plan whose buffers it can write
// and read, and that it can run. The CPU backend (LLVM) implements it today; the CUDA backend
// implements the same, so the training loop is written once.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "compiler/plan/collectives.h"
#include "compiler/plan/kernel_plan.h"
#include "runtime/data/augment.h"
#include "runtime/data/dataset.h"
#include "runtime/data/normalize.h"

namespace resnetc::train {

// Fills a plan's input and labels with examples of one split from data the backend keeps in
// its own memory (the GPU's), shuffled there too: per training batch nothing crosses the bus.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Draws data::epoch_order(seed, epoch, split.count) where the data lives, for feed_order().
  // Returns it as well: the trainer counts correct predictions with the labels on the host.
  virtual std::vector<uint32_t> shuffle(uint64_t seed, int epoch) = 0;
  // The examples at positions first .. first + batch - 1 of the last shuffle()'s order (an
  // augmented split's views drawn for that shuffle's seed and epoch).
  virtual void feed_order(int64_t first) = 0;
  // The examples at `indices` (views as feed_order's); indices.size() is the plan's batch.
  virtual void feed(std::span<const uint32_t> indices) = 0;
};

class PlanExecutor {
 public:
  virtual ~PlanExecutor() = default;
  // A BatchSource for `split` (its images seen through `transform`, resized to the plan's input and
  // normalized by `normalization`), or null when the backend has none and the trainer assembles
  // batches on the host.
  virtual std::unique_ptr<BatchSource> batch_source(const data::Split& /*split*/,
                                                    const data::Normalization& /*normalization*/,
                                                    const data::ImageTransform& /*transform*/ = {}) {
    return nullptr;
  }
  virtual void write(int buffer, std::span<const std::byte> bytes) = 0;  // the buffer's full size
  virtual void read(int buffer, std::span<std::byte> bytes) = 0;
  virtual void run() = 0;  // every kernel in order
  // As run(), adding each kernel's seconds to seconds[kernel] (plan order; a preamble that
  // does not run adds nothing). Kernel by kernel, so slower than run(): for profiles.
  virtual void run_timed(std::span<double> seconds) = 0;
  // As run(), calling `between` after kernel `at` - 1 and before kernel `at`: data-parallel
  // training averages the gradients there, between the backward pass and the updates
  // (train/distributed.h). A backend that cannot pause a run refuses.
  virtual void run_pausing_at(size_t /*at*/, const std::function<void()>& /*between*/) {
    throw std::runtime_error("this backend cannot train across processes yet: use --device cpu (docs/distributed.md)");
  }
  // As run(), calling at_stop(i) after kernel stops[i] - 1 and before kernel stops[i], for
  // every i in order (stops ascending, repeats allowed, each at most the number of kernels; a
  // stop inside a preamble that does not run comes where the run starts): data-parallel
  // training hands over the collectives that the compiler placed there
  // (compiler/plan/collectives.h) and waits for them before the updates. A backend that can
  // pause only once takes one stop (run_pausing_at) and refuses more.
  virtual void run_stopping_at(std::span<const size_t> stops, const std::function<void(size_t)>& at_stop) {
    if (stops.size() != 1)
      throw std::runtime_error("this backend cannot overlap the all-reduce with the backward pass yet: use --device "
                               "cpu (docs/distributed.md)");
    run_pausing_at(stops[0], [&] { at_stop(0); });
  }
};

// Sums buffers across the ranks of a data-parallel job on the device that holds them (NCCL
// between GPUs), where copying them to the host for MPI would cost two trips over the bus.
class DeviceReducer {
 public:
  virtual ~DeviceReducer() = default;
  // One training step of `executor`, an executor of the backend that made this reducer, with the
  // compiler's collectives (plan::place_collectives, ordered by stop) summed over the ranks, this
  // rank's part weighted by `share`, its share of the step's examples: each gradient bucket's sum
  // starts once the kernels before its stop have written the bucket and goes on beside the kernels
  // after it, and the kernels from `first_update` on (the updates) start after every sum; a
  // BatchNorm's statistics or backward sums are made the whole batch's before the kernels after
  // their stop read them (docs/distributed.md, "Synchronized BatchNorm"). Returns when the step is
  // done. Throws naming a rank that failed.
  virtual void run_step(PlanExecutor& executor, std::span<const plan::Collective> collectives, size_t first_update,
                        double share) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string device_name() const = 0;  // "cpu", "cuda:0 (NVIDIA H100)"
  // The plan must outlive the executor.
  virtual std::unique_ptr<PlanExecutor> compile(const plan::KernelPlan& plan) = 0;
  // What a run asks no precision of runs in (docs/precision.md): fp32 unless the device's own
  // default differs.
  virtual plan::Precision default_precision() const { return plan::Precision::Fp32; }
  // For rank `rank` of a data-parallel job of `size` ranks: a reducer on this backend's device,
  // or null when its buffers are host memory (the trainer then sums them with MPI). `broadcast`
  // gives rank 0's bytes to every rank, for the reducer's setup. Called by every rank alike.
  virtual std::unique_ptr<DeviceReducer> device_reducer(
      int /*rank*/, int /*size*/, const std::function<void(std::span<std::byte>)>& /*broadcast*/) {
    return nullptr;
  }
};

// Typed helpers over PlanExecutor.
template <typename T>
void write_buffer(PlanExecutor& e, int buffer, std::span<const T> values) {
  e.write(buffer, std::as_bytes(values));
}
template <typename T>
void read_buffer(PlanExecutor& e, int buffer, std::span<T> values) {
  e.read(buffer, std::as_writable_bytes(values));
}

}  // namespace resnetc::train
