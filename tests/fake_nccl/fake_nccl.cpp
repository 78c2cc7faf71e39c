// A fake NCCL: a shared library with every entry point that runtime/nccl/nccl_library.cpp
// resolves, which resnetc loads instead of libnccl.so.2 when RESNETC_NCCL_LIBRARY names it. It
// sums nothing across processes (the fake driver's kernels compute nothing either); it records
// the calls, checks what the real library would refuse, and fails or hangs on demand, so the
// NCCL path of data-parallel training runs and is tested on machines without GPUs. A
// communicator of one rank computes its all-reduce's result, in the fake driver's memory (host
// memory), as soon as it is called: its values times the pre-multiplying scalar (float32), or as
// they are (a float64 sum). Settings:
//   FAKE_NCCL_LOG=FILE          appends one line per call, "rank R CALL ARGS", R being
//                               OMPI_COMM_WORLD_RANK ("-" outside an MPI job); a run of
//                               ncclCommGetAsyncError polls is one line. An all-reduce's line
//                               ends with "on STREAM" (the handle as %p prints it)
//   FAKE_NCCL_ASYNC_ERROR=R:N   on rank R, after its N-th ncclAllReduce, ncclCommGetAsyncError
//                               reports ncclSystemError (a failed peer, a broken link)
//   FAKE_NCCL_HANG=R:N          on rank R, the N-th ncclAllReduce never ends: its stream stays
//                               busy (through the fake driver's test hook, fake_cuda_hold_stream)
//                               until ncclCommAbort
// The device of a communicator is the current context's (cuCtxGetDevice of the fake driver that
// RESNETC_CUDA_DRIVER names), as real NCCL takes cudaGetDevice's.
#include <dlfcn.h>
#include <nccl.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>

struct ncclComm {
  int rank = 0, nranks = 0, device = -1;
  int all_reduces = 0;
  ncclResult_t async = ncclSuccess;
  cudaStream_t held = nullptr;  // the stream of a hung all-reduce
  std::map<int, float> pre_mul_sums;  // created operators and their scalars
  int next_op = ncclNumOps;
};

namespace {

constexpr char kIdMagic[] = "fake-nccl-id ";

struct State {
  std::mutex mutex;
  std::set<ncclComm*> comms;
  int group_depth = 0;
  bool polling = false;  // the last logged call was an async-error poll
  std::string last_error;
};

State& state() {
  static State s;
  return s;
}

const char* rank_text() {
  const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
  return rank != nullptr && *rank != '\0' ? rank : "-";
}

void log(const char* format, ...) {
  const char* path = std::getenv("FAKE_NCCL_LOG");
  if (path == nullptr || *path == '\0') return;
  char line[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  // One write per line with O_APPEND semantics, so the ranks' lines do not interleave.
  if (std::FILE* f = std::fopen(path, "a")) {
    std::fprintf(f, "rank %s %s\n", rank_text(), line);
    std::fclose(f);
  }
}

// "R:N" for this process's rank: N, else 0.
int setting_for_this_rank(const char* variable) {
  const char* text = std::getenv(variable);
  if (text == nullptr || *text == '\0') return 0;
  int rank = -1, n = 0;
  if (std::sscanf(text, "%d:%d", &rank, &n) != 2 || n < 1) {
    std::fprintf(stderr, "fake NCCL: %s=%s is not RANK:N\n", variable, text);
    std::abort();
  }
  return std::to_string(rank) == rank_text() ? n : 0;
}

// The fake driver's own functions, found in the copy resnetc loaded.
void* driver_symbol(const char* name) {
  const char* path = std::getenv("RESNETC_CUDA_DRIVER");
  if (path == nullptr || *path == '\0') return nullptr;
  void* driver = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
  return driver != nullptr ? dlsym(driver, name) : nullptr;
}

void hold_stream(cudaStream_t stream, int held) {
  using Hold = void (*)(cudaStream_t, int);
  if (auto hold = reinterpret_cast<Hold>(driver_symbol("fake_cuda_hold_stream"))) hold(stream, held);
}

ncclResult_t invalid(const char* why) {
  state().last_error = why;
  log("refused: %s", why);
  return ncclInvalidArgument;
}

bool live(ncclComm_t comm) { return comm != nullptr && state().comms.contains(comm); }

const char* type_name(ncclDataType_t type) {
  switch (type) {
    case ncclFloat32: return "float32";
    case ncclFloat16: return "float16";
    case ncclBfloat16: return "bfloat16";
    case ncclFloat64: return "float64";
    default: return "other";
  }
}

}  // namespace

extern "C" {

ncclResult_t ncclGetVersion(int* version) {
  if (version == nullptr) return ncclInvalidArgument;
  *version = NCCL_VERSION_CODE;
  return ncclSuccess;
}

const char* ncclGetErrorString(ncclResult_t result) {
  switch (result) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
    case ncclSystemError: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
    case ncclInternalError: return "internal error - please report this issue to the NCCL developers";
    case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
    case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
    case ncclRemoteError: return "remote process exited or there was a network error";
    case ncclInProgress: return "NCCL operation in progress";
    default: return "unknown result code";
  }
}

const char* ncclGetLastError(ncclComm_t) { return state().last_error.c_str(); }

ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  std::lock_guard lock(state().mutex);
  if (id == nullptr) return invalid("ncclGetUniqueId: null id");
  std::memset(id->internal, 0, sizeof id->internal);
  std::snprintf(id->internal, sizeof id->internal, "%s%d", kIdMagic, static_cast<int>(getpid()));
  log("GetUniqueId %s", id->internal);
  return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank) {
  std::lock_guard lock(state().mutex);
  if (comm == nullptr) return invalid("ncclCommInitRank: null comm");
  if (nranks < 1 || rank < 0 || rank >= nranks) return invalid("ncclCommInitRank: bad rank or nranks");
  if (std::strncmp(id.internal, kIdMagic, sizeof kIdMagic - 1) != 0)
    return invalid("ncclCommInitRank: the unique id was not made by ncclGetUniqueId");
  auto* c = new ncclComm;
  c->rank = rank;
  c->nranks = nranks;
  using GetDevice = int (*)(int*);
  if (auto get = reinterpret_cast<GetDevice>(driver_symbol("cuCtxGetDevice")); get == nullptr || get(&c->device) != 0)
    c->device = -1;
  state().comms.insert(c);
  *comm = c;
  log("CommInitRank rank %d nranks %d device %d id %s", rank, nranks, c->device, id.internal);
  return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  std::lock_guard lock(state().mutex);
  if (!live(comm)) return invalid("ncclCommDestroy: not a live communicator");
  log("CommDestroy rank %d", comm->rank);
  state().comms.erase(comm);
  delete comm;
  return ncclSuccess;
}

ncclResult_t ncclCommAbort(ncclComm_t comm) {
  std::lock_guard lock(state().mutex);
  if (!live(comm)) return invalid("ncclCommAbort: not a live communicator");
  log("CommAbort rank %d", comm->rank);
  if (comm->held != nullptr) hold_stream(comm->held, 0);  // an abort ends the hung kernels
  state().comms.erase(comm);
  delete comm;
  return ncclSuccess;
}

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* async) {
  std::lock_guard lock(state().mutex);
  if (!live(comm) || async == nullptr) return invalid("ncclCommGetAsyncError: bad arguments");
  *async = comm->async;
  if (!state().polling || comm->async != ncclSuccess) log("CommGetAsyncError %d", static_cast<int>(comm->async));
  state().polling = true;
  return ncclSuccess;
}

ncclResult_t ncclGroupStart() {
  std::lock_guard lock(state().mutex);
  ++state().group_depth;
  state().polling = false;
  log("GroupStart");
  return ncclSuccess;
}

ncclResult_t ncclGroupEnd() {
  std::lock_guard lock(state().mutex);
  if (state().group_depth == 0) return invalid("ncclGroupEnd without ncclGroupStart");
  --state().group_depth;
  log("GroupEnd");
  return ncclSuccess;
}

ncclResult_t ncclRedOpCreatePreMulSum(ncclRedOp_t* op, void* scalar, ncclDataType_t type,
                                      ncclScalarResidence_t residence, ncclComm_t comm) {
  std::lock_guard lock(state().mutex);
  state().polling = false;
  if (!live(comm) || op == nullptr || scalar == nullptr) return invalid("ncclRedOpCreatePreMulSum: bad arguments");
  if (type != ncclFloat32 || residence != ncclScalarHostImmediate)
    return invalid("ncclRedOpCreatePreMulSum: only a float32 host scalar is faked");
  const float value = *static_cast<const float*>(scalar);  // read now: host-immediate
  const int id = comm->next_op++;
  comm->pre_mul_sums[id] = value;
  *op = static_cast<ncclRedOp_t>(id);
  log("RedOpCreatePreMulSum %.9g float32", static_cast<double>(value));
  return ncclSuccess;
}

ncclResult_t ncclRedOpDestroy(ncclRedOp_t op, ncclComm_t comm) {
  std::lock_guard lock(state().mutex);
  if (!live(comm) || comm->pre_mul_sums.erase(static_cast<int>(op)) != 1)
    return invalid("ncclRedOpDestroy: not an operator of this communicator");
  log("RedOpDestroy");
  return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void* send, void* receive, size_t count, ncclDataType_t type, ncclRedOp_t op,
                           ncclComm_t comm, cudaStream_t stream) {
  std::lock_guard lock(state().mutex);
  state().polling = false;
  if (!live(comm)) return invalid("ncclAllReduce: not a live communicator");
  if (send == nullptr || receive == nullptr || count == 0) return invalid("ncclAllReduce: no data");
  std::string op_text;
  if (op == ncclSum) {
    op_text = "sum";
  } else if (auto found = comm->pre_mul_sums.find(static_cast<int>(op)); found != comm->pre_mul_sums.end()) {
    char text[64];
    std::snprintf(text, sizeof text, "premulsum %.9g", static_cast<double>(found->second));
    op_text = text;
  } else {
    return invalid("ncclAllReduce: an operator this communicator does not know");
  }
  ++comm->all_reduces;
  log("AllReduce count %zu %s %s %s%s on %p", count, type_name(type), op_text.c_str(),
      send == receive ? "in-place" : "out-of-place", state().group_depth > 0 ? " grouped" : "",
      static_cast<void*>(stream));
  if (comm->nranks == 1 && type == ncclFloat32) {
    const float scalar = op == ncclSum ? 1.0f : comm->pre_mul_sums.at(static_cast<int>(op));
    const auto* in = static_cast<const float*>(send);
    auto* out = static_cast<float*>(receive);
    for (size_t i = 0; i < count; ++i) out[i] = in[i] * scalar;
  } else if (comm->nranks == 1 && type == ncclFloat64 && op == ncclSum) {
    std::memmove(receive, send, count * sizeof(double));
  }
  if (comm->all_reduces == setting_for_this_rank("FAKE_NCCL_ASYNC_ERROR")) {
    comm->async = ncclSystemError;
    state().last_error = "fake NCCL: injected asynchronous error (FAKE_NCCL_ASYNC_ERROR)";
  }
  if (comm->all_reduces == setting_for_this_rank("FAKE_NCCL_HANG")) {
    comm->held = stream;
    hold_stream(stream, 1);
  }
  return ncclSuccess;
}

}  // extern "C"
