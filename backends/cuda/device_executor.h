#pragma once
// What collectives on the GPU (nccl_reducer.h) need of the CUDA backend's executor: where a
// buffer is in device memory, the stream its kernels run on, and a run that other streams'
// work joins at stops.
#include <cstddef>
#include <functional>
#include <span>

#include "runtime/cuda/stream.h"
#include "train/executor.h"

namespace resnetc::cuda_backend {

class DeviceExecutor : public train::PlanExecutor {
 public:
  virtual const plan::KernelPlan& plan() const = 0;
  virtual const cuda::Stream& stream() const = 0;
  virtual cuda::DevicePtr device_address(int buffer) const = 0;
  // As run(), with work of other streams joined in without the host waiting: at_stop(i) is
  // called once the kernels before stops[i] are enqueued on stream(), not done, to enqueue work
  // ordered after them (stops ascending, repeats allowed, each at most the number of kernels);
  // `finish`, once every kernel is enqueued, must return when stream() is done.
  virtual void run_enqueuing_at(std::span<const size_t> stops, const std::function<void(size_t)>& at_stop,
                                const std::function<void()>& finish) = 0;
};

}  // namespace resnetc::cuda_backend
