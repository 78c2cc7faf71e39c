#pragma once
// A duplicate of MPI_COMM_WORLD for the job's own housekeeping (the watchdog's heartbeats, the
// ranks' agreement on an error), so that its messages never match the training's collectives.
// Every call is non-blocking: the caller polls with a deadline, which is the point (a blocking
// call would wait forever on a rank that hangs).
#include <cstdint>
#include <span>

namespace resnetc::mpi {

class Communicator;

class SideChannel {
 public:
  // Collective: every rank creates its channels in the same order (MPI_Comm_dup).
  explicit SideChannel(const Communicator& world);
  // Frees the communicator; an operation still pending is the caller's to finish or cancel first.
  ~SideChannel();
  SideChannel(const SideChannel&) = delete;
  SideChannel& operator=(const SideChannel&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

  // An operation in flight (an MPI_Request); its buffers must outlive it.
  struct Pending {
    void* request = nullptr;
    bool done = true;
  };
  Pending send(int to, int tag, const int64_t& value) const;
  Pending receive(int from, int tag, int64_t& value) const;
  // Every rank's `mine` (the same count on each), rank after rank, into `all`.
  Pending all_gather(std::span<const int64_t> mine, std::span<int64_t> all) const;
  Pending barrier() const;
  // Whether `p` has completed (MPI_Test); true from then on.
  bool test(Pending& p) const;
  // Cancels a pending receive (MPI_Cancel, then MPI_Wait, which returns at once for one).
  void cancel(Pending& p) const;

  // MPI_Abort on MPI_COMM_WORLD: mpirun ends every rank of the job.
  [[noreturn]] void abort_job(int code) const;

 private:
  void* comm_ = nullptr;  // an MPI_Comm (OpenMPI's: a pointer)
  int rank_ = 0, size_ = 1;
};

}  // namespace resnetc::mpi
