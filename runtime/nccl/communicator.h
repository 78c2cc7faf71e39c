#pragma once
// The NCCL communicator of a GPU rank in an MPI job (docs/distributed.md): one GPU per rank,
// float32 sums of device memory in place on the CUDA backend's stream. NCCL is loaded at run
// time (nccl_library.h says why); nothing here includes <nccl.h>.
#include <chrono>
#include <cstddef>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>

#include "runtime/cuda/stream.h"

struct ncclComm;

namespace resnetc::nccl {

class NcclError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// float32 values in device memory.
struct DeviceFloats {
  cuda::DevicePtr data = 0;
  size_t count = 0;
};

// How long a rank waits for a sum before it takes the job for hung: RESNETC_NCCL_TIMEOUT
// seconds, 600 when unset (PyTorch's default for NCCL). Throws NcclError for a bad value.
std::chrono::milliseconds timeout_from_environment();

class Communicator {
 public:
  // Joins the job's communicator on the device whose context is current (the CUDA backend's):
  // rank 0 makes the unique id, `broadcast` (the MPI job's) gives rank 0's bytes to every rank,
  // and every rank calls ncclCommInitRank. Loads NCCL; throws NcclError naming this rank.
  Communicator(int rank, int size, const std::function<void(std::span<std::byte>)>& broadcast,
               std::chrono::milliseconds timeout);
  // ncclCommDestroy; ncclCommAbort instead after a failure or while an exception unwinds, since
  // a peer may never finish what the communicator still waits for.
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }

  // In place on every rank: each of `spans` times `weight`, summed over the ranks (one
  // ncclAllReduce per span, in one group, with a pre-multiplying sum), enqueued on `stream`
  // after the work already there. Returns once enqueued: wait() for the sums. A call NCCL
  // refuses aborts the communicator and throws NcclError naming this rank.
  void start_sum(std::span<const DeviceFloats> spans, float weight, const cuda::Stream& stream);
  // In place on every rank: `count` doubles at `data` summed over the ranks (one ncclAllReduce),
  // enqueued on `stream`; as start_sum otherwise.
  void start_sum_doubles(cuda::DevicePtr data, size_t count, const cuda::Stream& stream);
  // Returns when `stream` is done, polling NCCL's asynchronous error meanwhile; an error, or no
  // end within the timeout, aborts the communicator and throws NcclError naming this rank. The
  // stream may hold other work than sums (a step's kernels that wait for them).
  void wait(const cuda::Stream& stream);

 private:
  void check(int result, const char* call);
  [[noreturn]] void abort_with(const std::string& why);

  int rank_ = 0;
  ncclComm* comm_ = nullptr;
  bool aborted_ = false;
  std::chrono::milliseconds timeout_;
};

}  // namespace resnetc::nccl
