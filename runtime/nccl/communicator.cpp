#include "runtime/nccl/communicator.h"

#include <fmt/format.h>

#include <cstdlib>
#include <exception>
#include <string_view>
#include <thread>

#include "runtime/nccl/nccl_library.h"

namespace resnetc::nccl {

using detail::nccl;

std::chrono::milliseconds timeout_from_environment() {
  const char* text = std::getenv("RESNETC_NCCL_TIMEOUT");
  if (text == nullptr || *text == '\0') return std::chrono::seconds(600);
  char* end = nullptr;
  const double seconds = std::strtod(text, &end);
  if (*end != '\0' || !(seconds > 0) || seconds > 1e7)
    throw NcclError(fmt::format("RESNETC_NCCL_TIMEOUT={} is not a number of seconds", text));
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

Communicator::Communicator(int rank, int size, const std::function<void(std::span<std::byte>)>& broadcast,
                           std::chrono::milliseconds timeout)
    : rank_(rank), timeout_(timeout) {
  const detail::NcclApi& api = nccl();
  ncclUniqueId id{};
  if (rank == 0) {
    if (ncclResult_t r = api.get_unique_id(&id); r != ncclSuccess)
      throw NcclError(fmt::format("rank 0: ncclGetUniqueId: {}", api.get_error_string(r)));
  }
  broadcast(std::as_writable_bytes(std::span(id.internal)));
  if (ncclResult_t r = api.comm_init_rank(&comm_, size, id, rank); r != ncclSuccess)
    throw NcclError(fmt::format("rank {}: ncclCommInitRank ({} ranks): {}", rank, size, api.get_error_string(r)));
}

Communicator::~Communicator() {
  // Destructors cannot report errors, and the process is ending its training either way.
  if (aborted_) return;
  if (std::uncaught_exceptions() > 0)
    nccl().comm_abort(comm_);
  else
    nccl().comm_destroy(comm_);
}

void Communicator::abort_with(const std::string& why) {
  if (!aborted_) nccl().comm_abort(comm_);
  aborted_ = true;
  throw NcclError(fmt::format("rank {}: {}; NCCL's communicator was aborted, which ends the job", rank_, why));
}

void Communicator::check(int result, const char* call) {
  if (result == ncclSuccess) return;
  const detail::NcclApi& api = nccl();
  const char* detail = api.get_last_error(comm_);
  abort_with(fmt::format("{}: {}{}{}", call, api.get_error_string(static_cast<ncclResult_t>(result)),
                         detail != nullptr && *detail != '\0' ? ": " : "", detail != nullptr ? detail : ""));
}

void Communicator::start_sum(std::span<const DeviceFloats> spans, float weight, const cuda::Stream& stream) {
  if (aborted_) throw NcclError(fmt::format("rank {}: NCCL's communicator was aborted after a failure", rank_));
  const detail::NcclApi& api = nccl();
  // The weight multiplies each rank's values as NCCL reads them: no kernel of our own, no extra pass.
  ncclRedOp_t op{};
  check(api.red_op_create_pre_mul_sum(&op, &weight, ncclFloat32, ncclScalarHostImmediate, comm_),
        "ncclRedOpCreatePreMulSum");
  check(api.group_start(), "ncclGroupStart");
  for (const DeviceFloats& s : spans) {
    void* data = reinterpret_cast<void*>(static_cast<uintptr_t>(s.data));
    check(api.all_reduce(data, data, s.count, ncclFloat32, op, comm_, stream.get()), "ncclAllReduce");
  }
  check(api.group_end(), "ncclGroupEnd");
  // An operator may go once the last call that uses it has returned.
  check(api.red_op_destroy(op, comm_), "ncclRedOpDestroy");
}

void Communicator::start_sum_doubles(cuda::DevicePtr data, size_t count, const cuda::Stream& stream) {
  if (aborted_) throw NcclError(fmt::format("rank {}: NCCL's communicator was aborted after a failure", rank_));
  void* at = reinterpret_cast<void*>(static_cast<uintptr_t>(data));
  check(nccl().all_reduce(at, at, count, ncclFloat64, ncclSum, comm_, stream.get()), "ncclAllReduce");
}

void Communicator::wait(const cuda::Stream& stream) {
  if (aborted_) throw NcclError(fmt::format("rank {}: NCCL's communicator was aborted after a failure", rank_));
  const detail::NcclApi& api = nccl();
  const auto start = std::chrono::steady_clock::now();
  // A peer that fails makes NCCL report an error here; one that hangs leaves the stream busy,
  // which only the timeout ends. The last check follows the stream's end: an error may come with it.
  for (bool done = false; !done;) {
    done = stream.done();
    ncclResult_t async = ncclSuccess;
    check(api.comm_get_async_error(comm_, &async), "ncclCommGetAsyncError");
    if (async != ncclSuccess && async != ncclInProgress) {
      const char* detail = api.get_last_error(comm_);
      abort_with(fmt::format("NCCL reported an asynchronous error while summing the gradients: {}{}{}",
                             api.get_error_string(async), detail != nullptr && *detail != '\0' ? ": " : "",
                             detail != nullptr ? detail : ""));
    }
    if (!done && std::chrono::steady_clock::now() - start > timeout_)
      abort_with(fmt::format("summing the gradients did not end within {} s (RESNETC_NCCL_TIMEOUT): another rank "
                             "hangs or has died",
                             std::chrono::duration<double>(timeout_).count()));
    if (!done) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace resnetc::nccl
