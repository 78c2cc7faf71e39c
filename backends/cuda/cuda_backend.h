#pragma once
// An NVIDIA GPU as a training backend: a plan emitted as CUDA C++ (compiler/codegen/cuda), split
// into one translation unit per hardware thread and compiled concurrently by NVRTC for the
// device's own architecture through the on-disk cache; its three memories allocated on the
// device (running out names what the plan needs); its launches recorded once as a CUDA graph on
// the executor's stream and replayed every step (RESNETC_CUDA_GRAPHS=0: launched one by one);
// the data set kept on the device and batches assembled there (device_batches.h); in an MPI job
// the gradients summed between the GPUs by NCCL (nccl_reducer.h).
#include <memory>
#include <string>

#include "runtime/cuda/compile_cache.h"
#include "runtime/cuda/driver.h"
#include "train/executor.h"

namespace resnetc::cuda_backend {

struct CompileReport {
  double milliseconds = 0;
  bool cache_hit = false;
  size_t kernels = 0;  // distinct __global__ functions
};

class CudaBackend : public train::Backend {
 public:
  // Throws cuda::CudaError when no driver or device is there (the message says so).
  CudaBackend(int device_index, cuda::CacheOptions cache);
  std::string device_name() const override;  // "cuda:0 (NVIDIA H100 80GB HBM3)"
  std::unique_ptr<train::PlanExecutor> compile(const plan::KernelPlan& plan) override;
  // TF32 convolutions, float32 fully connected layers: PyTorch's defaults on a GPU.
  plan::Precision default_precision() const override { return plan::Precision::Tf32; }
  const CompileReport& last_compile() const { return last_; }
  // NCCL between the job's GPUs, this one for `rank` (nccl_reducer.h); null in a build without
  // nccl.h (the trainer then sums the gradients on the host with MPI).
  std::unique_ptr<train::DeviceReducer> device_reducer(
      int rank, int size, const std::function<void(std::span<std::byte>)>& broadcast) override;

 private:
  cuda::Device device_;
  cuda::CacheOptions cache_;
  CompileReport last_;
};

}  // namespace resnetc::cuda_backend
