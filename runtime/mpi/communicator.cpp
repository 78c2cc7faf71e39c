#include "runtime/mpi/communicator.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <exception>
#include <string_view>

#include "runtime/mpi/mpi_library.h"

namespace resnetc::mpi {
namespace {

const detail::MpiApi& api() {
  // RESNETC_MPI_LIBRARY, when set, names the library to load instead of OpenMPI's soname.
  static const detail::MpiApi loaded = [] {
    const char* library = std::getenv("RESNETC_MPI_LIBRARY");
    return detail::load_mpi_api(library != nullptr && *library != '\0' ? library : "libmpi.so.40");
  }();
  return loaded;
}

void check(int result, std::string_view call) {
  if (result == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (api().error_string(result, text, &length) != MPI_SUCCESS) length = 0;
  throw MpiError(fmt::format("{}: {}", call, length > 0 ? std::string_view(text, static_cast<size_t>(length))
                                                        : std::string_view("unknown MPI error")));
}

// MPI counts are int: larger spans go in pieces.
template <class T>
void sum_in_place(std::span<T> values, MPI_Datatype type) {
  for (size_t first = 0; first < values.size(); first += INT_MAX) {
    const int count = static_cast<int>(std::min<size_t>(INT_MAX, values.size() - first));
    check(api().allreduce(MPI_IN_PLACE, values.data() + first, count, type, api().sum, api().comm_world),
          "MPI_Allreduce");
  }
}

}  // namespace

Communicator::Communicator() {
  int initialized = 0;
  check(api().initialized(&initialized), "MPI_Initialized");
  // Any thread may call MPI: the all-reduces run on a thread of their own (reduce_thread.h) while
  // the step goes on, and the watchdog's (watchdog.h) exchanges heartbeats meanwhile.
  int provided = MPI_THREAD_SINGLE;
  if (initialized == 0)
    check(api().init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
  if (initialized == 0 && provided < MPI_THREAD_SERIALIZED)
    throw MpiError(fmt::format("this MPI library gives thread level {}; resnetc needs MPI_THREAD_SERIALIZED ({}): "
                               "use an OpenMPI built with thread support",
                               provided, MPI_THREAD_SERIALIZED));
  thread_multiple_ = provided == MPI_THREAD_MULTIPLE;
  check(api().comm_rank(api().comm_world, &rank_), "MPI_Comm_rank");
  check(api().comm_size(api().comm_world, &size_), "MPI_Comm_size");
}

Communicator::~Communicator() {
  if (std::uncaught_exceptions() == 0) api().finalize();
}

void Communicator::sum(std::span<float> values) const { sum_in_place(values, api().float_type); }
void Communicator::sum(std::span<double> values) const { sum_in_place(values, api().double_type); }

int64_t Communicator::max(int64_t value) const {
  check(api().allreduce(MPI_IN_PLACE, &value, 1, api().int64_type, api().max, api().comm_world), "MPI_Allreduce");
  return value;
}

std::vector<int64_t> Communicator::gather_all(std::span<const int64_t> values) const {
  std::vector<int64_t> all(values.size() * static_cast<size_t>(size_));
  const int count = static_cast<int>(values.size());
  check(api().allgather(values.data(), count, api().int64_type, all.data(), count, api().int64_type,
                        api().comm_world),
        "MPI_Allgather");
  return all;
}

void Communicator::barrier() const { check(api().barrier(api().comm_world), "MPI_Barrier"); }

void Communicator::broadcast(std::span<std::byte> bytes) const {
  if (bytes.size() > INT_MAX) throw MpiError("MPI_Bcast of more than 2 GiB at once");
  check(api().bcast(bytes.data(), static_cast<int>(bytes.size()), api().byte_type, 0, api().comm_world), "MPI_Bcast");
}

}  // namespace resnetc::mpi
