#pragma once
// MPI_COMM_WORLD of a process that mpirun started, with the few collectives data-parallel
// training needs. OpenMPI is loaded at run time (mpi_library.h says why); nothing here
// includes <mpi.h>.
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

namespace resnetc::mpi {

class MpiError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Communicator {
 public:
  // Loads libmpi.so.40 (or the library RESNETC_MPI_LIBRARY names) and calls MPI_Init_thread
  // for MPI_THREAD_SERIALIZED: one thread at a time may make MPI calls. Throws MpiError.
  Communicator();
  // MPI_Finalize, but not while an exception unwinds: the other ranks may be waiting in a
  // collective, and a rank that exits without finalizing makes mpirun end the whole job.
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Whether MPI lets several threads call it at once (MPI_THREAD_MULTIPLE).
  bool thread_multiple() const { return thread_multiple_; }

  // In place: every rank's values summed, element by element, on every rank.
  void sum(std::span<float> values) const;
  void sum(std::span<double> values) const;
  int64_t max(int64_t value) const;
  // Every rank's `values` (the same count on each), rank after rank.
  std::vector<int64_t> gather_all(std::span<const int64_t> values) const;
  void barrier() const;
  // Rank 0's `bytes` on every rank (the same count on each).
  void broadcast(std::span<std::byte> bytes) const;

 private:
  int rank_ = 0, size_ = 1;
  bool thread_multiple_ = false;
};

}  // namespace resnetc::mpi
