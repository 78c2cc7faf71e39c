#pragma once
// The collectives of a GPU rank in an MPI job summed between the GPUs by NCCL
// (runtime/nccl/communicator.h) where they are, nothing crossing the bus to the host: the gradient
// buckets on a communication stream of their own, so each bucket's sum overlaps the rest of the
// backward pass, and with --sync-bn BatchNorm's statistics and backward sums on the step's stream.
#include <cstddef>
#include <functional>
#include <memory>
#include <span>

#include "runtime/cuda/compile_cache.h"
#include "runtime/cuda/driver.h"
#include "train/executor.h"

namespace resnetc::cuda_backend {

// Joins the job's NCCL communicator on `device`, which must be current (loads NCCL). Its timeout
// is RESNETC_NCCL_TIMEOUT's; synchronized BatchNorm's kernels are compiled through `cache`.
// Throws nccl::NcclError.
std::unique_ptr<train::DeviceReducer> make_nccl_reducer(const cuda::Device& device, const cuda::CacheOptions& cache,
                                                        int rank, int size,
                                                        const std::function<void(std::span<std::byte>)>& broadcast);

}  // namespace resnetc::cuda_backend
