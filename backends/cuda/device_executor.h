#pragma once
// What collectives on the GPU (nccl_reducer.h) need of the CUDA backend's executor: where a
// buffer is in device memory, and the stream its kernels run on.
#include "runtime/cuda/stream.h"
#include "train/executor.h"

namespace resnetc::cuda_backend {

class DeviceExecutor : public train::PlanExecutor {
 public:
  virtual const plan::KernelPlan& plan() const = 0;
  virtual const cuda::Stream& stream() const = 0;
  virtual cuda::DevicePtr device_address(int buffer) const = 0;
};

}  // namespace resnetc::cuda_backend
