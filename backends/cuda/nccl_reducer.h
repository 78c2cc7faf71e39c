#pragma once
// The gradients of a GPU rank in an MPI job summed between the GPUs by NCCL
// (runtime/nccl/communicator.h), on the CUDA executor's stream, where they are: nothing crosses
// the bus to the host.
#include <cstddef>
#include <functional>
#include <memory>
#include <span>

#include "train/executor.h"

namespace resnetc::cuda_backend {

// Joins the job's NCCL communicator on the current device (loads NCCL). Its timeout is
// RESNETC_NCCL_TIMEOUT's. Throws nccl::NcclError.
std::unique_ptr<train::DeviceReducer> make_nccl_reducer(int rank, int size,
                                                        const std::function<void(std::span<std::byte>)>& broadcast);

}  // namespace resnetc::cuda_backend
