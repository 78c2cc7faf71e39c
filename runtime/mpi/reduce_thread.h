#pragma once
// A thread that sums buffers across the ranks (Communicator::sum) in the order they are
// queued, so a training step's gradient buckets travel while its backward pass goes on
// (docs/distributed.md). The caller makes no MPI call of its own between queuing a sum and
// waiting for every sum queued (MPI_THREAD_SERIALIZED), and every rank queues the same sums
// in the same order.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/mpi/communicator.h"

namespace resnetc::mpi {

class ReduceThread {
 public:
  explicit ReduceThread(const Communicator& world);
  // Joins the thread once its queue is done; while an exception unwinds, with sums still
  // queued (the other ranks may never take part in them), leaves it to end with the process.
  ~ReduceThread();
  ReduceThread(const ReduceThread&) = delete;
  ReduceThread& operator=(const ReduceThread&) = delete;

  // Queues an in-place sum of *values across the ranks; the vector is the thread's until the
  // sum is waited for. Returns the sum's ticket.
  uint64_t sum(std::shared_ptr<std::vector<float>> values);
  uint64_t sum(std::shared_ptr<std::vector<double>> values);
  // Returns once every sum queued up to `ticket` is done; rethrows a failed sum's MpiError.
  void wait(uint64_t ticket);
  void wait_all();

 private:
  struct Queue {
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<std::function<void()>> jobs;
    uint64_t queued = 0, done = 0;
    bool stop = false;
    std::exception_ptr error;
  };
  uint64_t push(std::function<void()> job);
  static void serve(const std::shared_ptr<Queue>& queue);

  const Communicator& world_;
  std::shared_ptr<Queue> queue_ = std::make_shared<Queue>();
  std::thread thread_;  // last: starts once the members above are made
};

}  // namespace resnetc::mpi
