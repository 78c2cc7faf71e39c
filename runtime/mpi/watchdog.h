#pragma once
// Ends an MPI job whose rank has hung (stopped, deadlocked, cut off) within a timeout, naming it,
// instead of leaving the other ranks waiting in a collective forever (docs/distributed.md).
//
// A thread of each rank exchanges heartbeats with rank 0 on a channel of its own (side_channel.h),
// each one carrying the step the rank works on. Rank 0 ends the job (MPI_Abort) when a rank has
// sent nothing for the timeout, or when it has been at a step for the timeout while a rank has
// not reached it yet; rank 1 watches rank 0 the same way (the other ranks too, a few seconds
// later, in case rank 1 is gone as well). A thread, because the main thread waits inside a
// blocking collective; so MPI must allow MPI_THREAD_MULTIPLE.
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

namespace resnetc::mpi {

class Communicator;
class SideChannel;

class Watchdog {
 public:
  // Collective (creates the channel). Throws MpiError when MPI does not allow MPI_THREAD_MULTIPLE.
  Watchdog(const Communicator& world, double timeout_seconds);
  // Every rank says it is done and waits for the ranks it watches to say so (still watching them),
  // so no heartbeat is left unreceived when MPI is finalized; while an exception unwinds, stops
  // at once.
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // This rank now works on `step` (1, 2, ...; 0 before the first).
  void at_step(int64_t step) { step_.store(step, std::memory_order_relaxed); }

 private:
  void watch();

  std::unique_ptr<SideChannel> channel_;
  double timeout_;
  std::atomic<int64_t> step_{0};
  std::atomic<bool> finishing_{false}, abandon_{false};
  std::thread thread_;
};

}  // namespace resnetc::mpi
