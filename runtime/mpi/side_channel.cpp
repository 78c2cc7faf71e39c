#include "runtime/mpi/side_channel.h"

#include <dlfcn.h>

#include <fmt/format.h>

#include <cstdlib>
#include <string_view>

#include "runtime/mpi/communicator.h"
#include "runtime/mpi/mpi_library.h"

namespace resnetc::mpi {
namespace {

static_assert(sizeof(MPI_Request) == sizeof(void*) && sizeof(MPI_Comm) == sizeof(void*),
              "OpenMPI's handles are pointers");

// The entry points the channel needs, from the libmpi that Communicator loaded with RTLD_GLOBAL
// (so they are found in the process's global scope).
struct ChannelApi {
  decltype(&::MPI_Comm_dup) comm_dup;
  decltype(&::MPI_Comm_free) comm_free;
  decltype(&::MPI_Comm_rank) comm_rank;
  decltype(&::MPI_Comm_size) comm_size;
  decltype(&::MPI_Isend) isend;
  decltype(&::MPI_Irecv) irecv;
  decltype(&::MPI_Iallgather) iallgather;
  decltype(&::MPI_Ibarrier) ibarrier;
  decltype(&::MPI_Test) test;
  decltype(&::MPI_Cancel) cancel;
  decltype(&::MPI_Wait) wait;
  decltype(&::MPI_Abort) abort;
  MPI_Comm comm_world;
  MPI_Datatype int64_type;
};

void* resolve(const char* symbol) {
  void* address = dlsym(RTLD_DEFAULT, symbol);
  if (address == nullptr) throw MpiError(fmt::format("the MPI library has no symbol {}: resnetc needs OpenMPI", symbol));
  return address;
}

const ChannelApi& api() {
  static const ChannelApi loaded = [] {
    ChannelApi a{};
#define RESNETC_CHANNEL_FUNCTION(member, name) a.member = reinterpret_cast<decltype(&::name)>(resolve(#name))
    RESNETC_CHANNEL_FUNCTION(comm_dup, MPI_Comm_dup);
    RESNETC_CHANNEL_FUNCTION(comm_free, MPI_Comm_free);
    RESNETC_CHANNEL_FUNCTION(comm_rank, MPI_Comm_rank);
    RESNETC_CHANNEL_FUNCTION(comm_size, MPI_Comm_size);
    RESNETC_CHANNEL_FUNCTION(isend, MPI_Isend);
    RESNETC_CHANNEL_FUNCTION(irecv, MPI_Irecv);
    RESNETC_CHANNEL_FUNCTION(iallgather, MPI_Iallgather);
    RESNETC_CHANNEL_FUNCTION(ibarrier, MPI_Ibarrier);
    RESNETC_CHANNEL_FUNCTION(test, MPI_Test);
    RESNETC_CHANNEL_FUNCTION(cancel, MPI_Cancel);
    RESNETC_CHANNEL_FUNCTION(wait, MPI_Wait);
    RESNETC_CHANNEL_FUNCTION(abort, MPI_Abort);
#undef RESNETC_CHANNEL_FUNCTION
    a.comm_world = static_cast<MPI_Comm>(resolve("ompi_mpi_comm_world"));
    a.int64_type = static_cast<MPI_Datatype>(resolve("ompi_mpi_int64_t"));
    return a;
  }();
  return loaded;
}

void check(int result, std::string_view call) {
  if (result != MPI_SUCCESS) throw MpiError(fmt::format("{} failed (MPI error {})", call, result));
}

MPI_Comm as_comm(void* comm) { return static_cast<MPI_Comm>(comm); }

SideChannel::Pending pending(MPI_Request request) { return {static_cast<void*>(request), false}; }

}  // namespace

SideChannel::SideChannel(const Communicator&) {
  MPI_Comm comm = nullptr;
  check(api().comm_dup(api().comm_world, &comm), "MPI_Comm_dup");
  comm_ = static_cast<void*>(comm);
  check(api().comm_rank(comm, &rank_), "MPI_Comm_rank");
  check(api().comm_size(comm, &size_), "MPI_Comm_size");
}

SideChannel::~SideChannel() {
  MPI_Comm comm = as_comm(comm_);
  api().comm_free(&comm);
}

SideChannel::Pending SideChannel::send(int to, int tag, const int64_t& value) const {
  MPI_Request request = nullptr;
  check(api().isend(&value, 1, api().int64_type, to, tag, as_comm(comm_), &request), "MPI_Isend");
  return pending(request);
}

SideChannel::Pending SideChannel::receive(int from, int tag, int64_t& value) const {
  MPI_Request request = nullptr;
  check(api().irecv(&value, 1, api().int64_type, from, tag, as_comm(comm_), &request), "MPI_Irecv");
  return pending(request);
}

SideChannel::Pending SideChannel::all_gather(std::span<const int64_t> mine, std::span<int64_t> all) const {
  MPI_Request request = nullptr;
  const int count = static_cast<int>(mine.size());
  check(api().iallgather(mine.data(), count, api().int64_type, all.data(), count, api().int64_type, as_comm(comm_),
                         &request),
        "MPI_Iallgather");
  return pending(request);
}

SideChannel::Pending SideChannel::barrier() const {
  MPI_Request request = nullptr;
  check(api().ibarrier(as_comm(comm_), &request), "MPI_Ibarrier");
  return pending(request);
}

bool SideChannel::test(Pending& p) const {
  if (p.done) return true;
  MPI_Request request = static_cast<MPI_Request>(p.request);
  int flag = 0;
  check(api().test(&request, &flag, MPI_STATUS_IGNORE), "MPI_Test");
  p.done = flag != 0;
  return p.done;
}

void SideChannel::cancel(Pending& p) const {
  if (p.done) return;
  MPI_Request request = static_cast<MPI_Request>(p.request);
  check(api().cancel(&request), "MPI_Cancel");
  check(api().wait(&request, MPI_STATUS_IGNORE), "MPI_Wait");
  p.done = true;
}

void SideChannel::abort_job(int code) const {
  api().abort(api().comm_world, code);
  std::_Exit(code);  // MPI_Abort does not return; should it, this rank still ends
}

}  // namespace resnetc::mpi
