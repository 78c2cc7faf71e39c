// A fake CUDA driver: a shared library with every entry point that runtime/cuda/driver_api.cpp
// resolves, behaving like libcuda.so.1 on one GPU whose memory is host memory and whose kernels
// do nothing. resnetc loads it instead of the real driver when RESNETC_CUDA_DRIVER names it, so
// the host side of the GPU runtime (allocation, copies, modules, launch configurations, streams,
// graphs, error paths) runs and is tested on machines without a GPU.
//
// It makes the real driver's checks that host code can get wrong: ranges of copies inside one
// live allocation, cubins for the device's architecture, kernel names present in the cubin, the
// launch limits, calls that are not allowed while a stream is capturing, a current context,
// sticky errors. Settings, read by cuInit:
//   FAKE_CUDA_CC=90             compute capability, major * 10 + minor (default 90: 9.0)
//   FAKE_CUDA_MEMORY=BYTES      device memory (default 80 GiB); allocations beyond it fail
//   FAKE_CUDA_FAIL_LAUNCH=N     the N-th kernel run (1-based, kernels in graphs included) faults
//                               with CUDA_ERROR_ILLEGAL_ADDRESS. As on a GPU the fault is
//                               asynchronous: the launch succeeds, every later call fails with
//                               it (sticky); with CUDA_LAUNCH_BLOCKING=1 the launch itself fails
//   FAKE_CUDA_LOG=FILE          appends "launch NAME grid x,y,z block x,y,z shared N" per kernel run,
//                               "record EVENT on STREAM" per cuEventRecord and "wait STREAM for EVENT"
//                               per cuStreamWaitEvent (handles as %p prints them)
//   FAKE_CUDA_DEVICES=N         how many GPUs (default 1, at most 8): alike, each with its own primary
//                               context, sharing one memory (for one rank per GPU in an MPI job)
//   FAKE_CUDA_FILL=BYTE         what new allocations hold (default 255). A real GPU's do not start
//                               zeroed; 0xFF bytes read as NaN and as out-of-range indices, so host
//                               code that reads memory nothing wrote fails visibly. Since the fake's
//                               kernels write nothing, a run whose host side reads kernel results
//                               (the GPU shuffle's order) needs 0 to get usable values.
#include <cuda.h>
#include <elf.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr int kDriverVersion = 13000;
constexpr const char* kDeviceName = "resnetc fake GPU";
constexpr int kMultiprocessors = 132;
constexpr int kWarpSize = 32;
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr unsigned kMaxBlockDim[3] = {1024, 1024, 64};
constexpr unsigned kMaxGridDim[3] = {2147483647u, 65535, 65535};
// Without cuFuncSetAttribute a kernel gets 48 KiB of dynamic shared memory; with it, up to the
// opt-in maximum (227 KiB on an H100).
constexpr int kDefaultSharedPerBlock = 48 * 1024;
constexpr int kMaxSharedPerBlockOptin = 227 * 1024;
constexpr int kSharedPerMultiprocessor = 228 * 1024;
constexpr std::size_t kAllocationAlignment = 256;  // what cuMemAlloc guarantees

struct Launch {
  CUfunction function = nullptr;
  unsigned grid[3] = {};
  unsigned block[3] = {};
  unsigned shared_bytes = 0;
};

}  // namespace

// The opaque handle types <cuda.h> declares.
struct CUctx_st {
  int retained = 0;
  int device = 0;
};

struct CUfunc_st {
  std::string name;
  int max_dynamic_shared = kDefaultSharedPerBlock;
};

struct CUmod_st {
  std::vector<char> image;
  std::map<std::string, std::unique_ptr<CUfunc_st>, std::less<>> functions;
};

struct Capture {
  bool capturing = false;
  bool capture_invalidated = false;
  CUstreamCaptureMode capture_mode = CU_STREAM_CAPTURE_MODE_GLOBAL;
  std::thread::id capture_thread;
  std::vector<Launch> captured;
};

// A capture starts and ends its own state only: work enqueued before it still holds the stream.
struct CUstream_st : Capture {
  bool held = false;  // busy until released (fake_cuda_hold_stream): a collective a peer never joins
  // Held streams whose work this stream waits for (cuStreamWaitEvent on an event recorded after
  // it): this stream is busy too until they are released.
  std::set<CUstream_st*> waits_for;
};

struct CUevent_st {
  unsigned flags = 0;
  bool recorded = false;
  std::set<CUstream_st*> after;  // the held streams the work before its latest record waits for
};

struct CUgraph_st {
  std::vector<Launch> launches;
};

struct CUgraphExec_st {
  std::vector<Launch> launches;
};

namespace {

// Live handles of one kind, owned here; a handle not in the registry is invalid (never created
// or already destroyed).
template <class T>
class Registry {
 public:
  T* add(std::unique_ptr<T> object) {
    T* handle = object.get();
    objects_.emplace(handle, std::move(object));
    return handle;
  }
  bool contains(const T* handle) const { return objects_.contains(const_cast<T*>(handle)); }
  bool remove(T* handle) { return objects_.erase(handle) == 1; }
  auto begin() { return objects_.begin(); }
  auto end() { return objects_.end(); }

 private:
  std::map<T*, std::unique_ptr<T>> objects_;
};

struct Driver {
  std::mutex mutex;
  bool initialized = false;
  int cc_major = 9, cc_minor = 0;
  std::size_t memory = std::size_t{80} << 30;
  unsigned long long fail_launch = 0;  // 0: none
  unsigned char fill = 0xFF;
  bool launch_blocking = false;  // CUDA_LAUNCH_BLOCKING=1
  std::FILE* log = nullptr;

  static constexpr int kMaxDevices = 8;
  int devices = 1;
  CUctx_st contexts[kMaxDevices];
  std::map<CUdeviceptr, std::size_t> allocations;  // base -> bytes
  std::size_t allocated = 0;
  Registry<CUmod_st> modules;
  std::set<const CUfunc_st*> functions;  // live functions, for handle checks
  Registry<CUstream_st> streams;
  Registry<CUevent_st> events;
  Registry<CUgraph_st> graphs;
  Registry<CUgraphExec_st> execs;
  unsigned long long launches = 0;
  CUresult sticky = CUDA_SUCCESS;
};

Driver& driver() {
  static Driver d;
  return d;
}

thread_local CUctx_st* current_context = nullptr;

struct ErrorText {
  CUresult code;
  const char* name;
  const char* text;
};

// The names and texts libcuda gives for the codes this fake returns.
constexpr ErrorText kErrors[] = {
    {CUDA_SUCCESS, "CUDA_SUCCESS", "no error"},
    {CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {CUDA_ERROR_NOT_READY, "CUDA_ERROR_NOT_READY", "device not ready"},
    {CUDA_ERROR_INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {CUDA_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {CUDA_ERROR_NO_BINARY_FOR_GPU, "CUDA_ERROR_NO_BINARY_FOR_GPU",
     "no kernel image is available for execution on the device"},
    {CUDA_ERROR_INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {CUDA_ERROR_ILLEGAL_STATE, "CUDA_ERROR_ILLEGAL_STATE", "the operation cannot be performed in the present state"},
    {CUDA_ERROR_ILLEGAL_ADDRESS, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED",
     "operation not permitted when stream is capturing"},
    {CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED",
     "operation failed due to a previous error during capture"},
    {CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD, "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD",
     "attempt to terminate a thread-local capture sequence from another thread"},
};

const ErrorText* find_error(CUresult code) {
  for (const ErrorText& e : kErrors)
    if (e.code == code) return &e;
  return nullptr;
}

// A misconfigured test should stop loudly, not run against a device it did not ask for.
bool read_number(const char* variable, unsigned long long& value) {
  const char* text = std::getenv(variable);
  if (text == nullptr || *text == '\0') return true;
  char* end = nullptr;
  value = std::strtoull(text, &end, 10);
  if (*end != '\0') {
    std::fprintf(stderr, "fake CUDA driver: %s=%s is not a whole number\n", variable, text);
    return false;
  }
  return true;
}

bool configure(Driver& d) {
  unsigned long long cc = 90, memory = d.memory, fill = d.fill;
  if (!read_number("FAKE_CUDA_CC", cc) || !read_number("FAKE_CUDA_MEMORY", memory) ||
      !read_number("FAKE_CUDA_FAIL_LAUNCH", d.fail_launch) || !read_number("FAKE_CUDA_FILL", fill))
    return false;
  unsigned long long devices = 1;
  if (!read_number("FAKE_CUDA_DEVICES", devices)) return false;
  if (devices < 1 || devices > Driver::kMaxDevices) {
    std::fprintf(stderr, "fake CUDA driver: FAKE_CUDA_DEVICES=%llu is not 1 to %d\n", devices, Driver::kMaxDevices);
    return false;
  }
  d.devices = static_cast<int>(devices);
  for (int i = 0; i < d.devices; ++i) d.contexts[i].device = i;
  if (fill > 0xFF) {
    std::fprintf(stderr, "fake CUDA driver: FAKE_CUDA_FILL=%llu is not a byte\n", fill);
    return false;
  }
  d.fill = static_cast<unsigned char>(fill);
  const char* blocking = std::getenv("CUDA_LAUNCH_BLOCKING");
  d.launch_blocking = blocking != nullptr && std::string_view(blocking) == "1";
  d.cc_major = static_cast<int>(cc / 10);
  d.cc_minor = static_cast<int>(cc % 10);
  d.memory = static_cast<std::size_t>(memory);
  if (const char* path = std::getenv("FAKE_CUDA_LOG"); path != nullptr && *path != '\0') {
    d.log = std::fopen(path, "a");
    if (d.log == nullptr) {
      std::fprintf(stderr, "fake CUDA driver: cannot open FAKE_CUDA_LOG=%s\n", path);
      return false;
    }
  }
  return true;
}

// What every call on the current context checks first: initialised, a live context bound to this
// thread, and no earlier fault (after one, the context is unusable).
CUresult context_call(const Driver& d) {
  if (!d.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (current_context == nullptr || current_context->retained == 0) return CUDA_ERROR_INVALID_CONTEXT;
  return d.sticky;
}

// Calls that may synchronise are not allowed from a thread that is capturing (thread-local or
// global mode), nor from any thread while another captures in global mode; the real driver fails
// them and invalidates those captures, whose cuStreamEndCapture then fails.
CUresult capture_safe(Driver& d) {
  CUresult result = CUDA_SUCCESS;
  const std::thread::id self = std::this_thread::get_id();
  for (auto& [handle, stream] : d.streams) {
    if (!stream->capturing || stream->capture_mode == CU_STREAM_CAPTURE_MODE_RELAXED) continue;
    if (stream->capture_thread == self || stream->capture_mode == CU_STREAM_CAPTURE_MODE_GLOBAL) {
      stream->capture_invalidated = true;
      result = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
    }
  }
  return result;
}

// nullptr, CU_STREAM_LEGACY and CU_STREAM_PER_THREAD name the default streams.
bool valid_stream(Driver& d, CUstream stream) {
  return stream == nullptr || stream == CU_STREAM_LEGACY || stream == CU_STREAM_PER_THREAD ||
         d.streams.contains(stream);
}

CUstream_st* capturing(CUstream stream) {
  if (stream == nullptr || stream == CU_STREAM_LEGACY || stream == CU_STREAM_PER_THREAD) return nullptr;
  return stream->capturing ? stream : nullptr;
}

// A held stream, or one waiting for a held one, does not finish. Forgets the streams it waited
// for that are released or gone: what they held has ended.
bool busy(Driver& d, CUstream stream) {
  if (stream == nullptr || stream == CU_STREAM_LEGACY || stream == CU_STREAM_PER_THREAD) return false;
  std::erase_if(stream->waits_for, [&](CUstream_st* s) { return !d.streams.contains(s) || !s->held; });
  return stream->held || !stream->waits_for.empty();
}

void log_line(const Driver& d, const char* format, const void* a, const void* b) {
  if (d.log == nullptr) return;
  std::fprintf(d.log, format, a, b);
  std::fflush(d.log);
}

// True when [ptr, ptr + bytes) lies inside one live allocation.
bool inside_allocation(const Driver& d, CUdeviceptr ptr, std::size_t bytes) {
  auto it = d.allocations.upper_bound(ptr);
  if (it == d.allocations.begin()) return false;
  --it;
  const CUdeviceptr offset = ptr - it->first;
  return offset <= it->second && bytes <= it->second - offset;
}

// The launch limits of the device and of the function's shared memory attribute.
CUresult check_launch(const Driver& d, const Launch& l) {
  if (!d.functions.contains(l.function)) return CUDA_ERROR_INVALID_HANDLE;
  unsigned long long threads = 1;
  for (int i = 0; i < 3; ++i) {
    if (l.grid[i] == 0 || l.block[i] == 0 || l.grid[i] > kMaxGridDim[i] || l.block[i] > kMaxBlockDim[i])
      return CUDA_ERROR_INVALID_VALUE;
    threads *= l.block[i];
  }
  if (threads > kMaxThreadsPerBlock) return CUDA_ERROR_INVALID_VALUE;
  if (l.shared_bytes > static_cast<unsigned>(kDefaultSharedPerBlock) &&
      l.shared_bytes > static_cast<unsigned>(l.function->max_dynamic_shared))
    return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

// "Runs" a launch whose configuration was checked: counts it, logs it, and faults if it is the
// one FAKE_CUDA_FAIL_LAUNCH names.
void run(Driver& d, const Launch& l) {
  ++d.launches;
  if (d.log != nullptr) {
    std::fprintf(d.log, "launch %s grid %u,%u,%u block %u,%u,%u shared %u\n", l.function->name.c_str(), l.grid[0],
                 l.grid[1], l.grid[2], l.block[0], l.block[1], l.block[2], l.shared_bytes);
    std::fflush(d.log);
  }
  if (d.launches == d.fail_launch) d.sticky = CUDA_ERROR_ILLEGAL_ADDRESS;
}

// What a launch call returns once its kernels ran: a fault only when launches block.
CUresult launched(const Driver& d) { return d.launch_blocking ? d.sticky : CUDA_SUCCESS; }

// The size of an ELF image: the driver gets only a pointer, so the headers say where it ends.
std::size_t elf_size(const Elf64_Ehdr& header, const char* image) {
  std::size_t end = std::max<std::size_t>(sizeof header,
                                          header.e_shoff + std::size_t{header.e_shnum} * header.e_shentsize);
  end = std::max<std::size_t>(end, header.e_phoff + std::size_t{header.e_phnum} * header.e_phentsize);
  for (unsigned i = 0; i < header.e_shnum; ++i) {
    Elf64_Shdr section;
    std::memcpy(&section, image + header.e_shoff + i * std::size_t{header.e_shentsize}, sizeof section);
    if (section.sh_type != SHT_NOBITS) end = std::max<std::size_t>(end, section.sh_offset + section.sh_size);
  }
  return end;
}

}  // namespace

extern "C" {

CUresult CUDAAPI cuInit(unsigned int flags) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  if (!d.initialized) {
    if (!configure(d)) return CUDA_ERROR_INVALID_VALUE;
    d.initialized = true;
  }
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDriverGetVersion(int* version) {
  if (version == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *version = kDriverVersion;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGetErrorName(CUresult error, const char** text) {
  const ErrorText* e = find_error(error);
  if (text == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *text = e != nullptr ? e->name : nullptr;
  return e != nullptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult CUDAAPI cuGetErrorString(CUresult error, const char** text) {
  const ErrorText* e = find_error(error);
  if (text == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *text = e != nullptr ? e->text : nullptr;
  return e != nullptr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult CUDAAPI cuDeviceGetCount(int* count) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (!d.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (count == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *count = d.devices;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGet(CUdevice* device, int ordinal) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (!d.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (device == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (ordinal < 0 || ordinal >= d.devices) return CUDA_ERROR_INVALID_DEVICE;
  *device = ordinal;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetName(char* name, int length, CUdevice device) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (!d.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (device < 0 || device >= d.devices) return CUDA_ERROR_INVALID_DEVICE;
  if (name == nullptr || length <= 0) return CUDA_ERROR_INVALID_VALUE;
  std::snprintf(name, static_cast<std::size_t>(length), "%s", kDeviceName);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetAttribute(int* value, CUdevice_attribute attribute, CUdevice device) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (!d.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (device < 0 || device >= d.devices) return CUDA_ERROR_INVALID_DEVICE;
  if (value == nullptr) return CUDA_ERROR_INVALID_VALUE;
  switch (attribute) {
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *value = d.cc_major; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *value = d.cc_minor; break;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *value = kMultiprocessors; break;
    case CU_DEVICE_ATTRIBUTE_WARP_SIZE: *value = kWarpSize; break;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *value = static_cast<int>(kMaxThreadsPerBlock); break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X: *value = static_cast<int>(kMaxBlockDim[0]); break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y: *value = static_cast<int>(kMaxBlockDim[1]); break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z: *value = static_cast<int>(kMaxBlockDim[2]); break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X: *value = static_cast<int>(kMaxGridDim[0]); break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y: *value = static_cast<int>(kMaxGridDim[1]); break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z: *value = static_cast<int>(kMaxGridDim[2]); break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: *value = kDefaultSharedPerBlock; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *value = kMaxSharedPerBlockOptin; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR: *value = kSharedPerMultiprocessor; break;
    // An attribute the fake does not model fails rather than answer a made-up number.
    default: return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceTotalMem(std::size_t* bytes, CUdevice device) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (!d.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (device < 0 || device >= d.devices) return CUDA_ERROR_INVALID_DEVICE;
  if (bytes == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *bytes = d.memory;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext* context, CUdevice device) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (!d.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (device < 0 || device >= d.devices) return CUDA_ERROR_INVALID_DEVICE;
  if (context == nullptr) return CUDA_ERROR_INVALID_VALUE;
  ++d.contexts[device].retained;
  *context = &d.contexts[device];
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDevicePrimaryCtxRelease(CUdevice device) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (!d.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (device < 0 || device >= d.devices) return CUDA_ERROR_INVALID_DEVICE;
  if (d.contexts[device].retained == 0) return CUDA_ERROR_INVALID_CONTEXT;
  --d.contexts[device].retained;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSetCurrent(CUcontext context) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (!d.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  const bool known = context == nullptr || (context >= d.contexts && context < d.contexts + d.devices);
  if (!known || (context != nullptr && context->retained == 0)) return CUDA_ERROR_INVALID_CONTEXT;
  current_context = context;
  return CUDA_SUCCESS;
}

// What the CUDA runtime's cudaGetDevice answers, and so the device NCCL uses (tests/fake_nccl).
CUresult CUDAAPI cuCtxGetDevice(CUdevice* device) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (device == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *device = current_context->device;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxSynchronize() {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  return capture_safe(d);
}

CUresult CUDAAPI cuModuleLoadData(CUmodule* module, const void* image) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (module == nullptr || image == nullptr) return CUDA_ERROR_INVALID_VALUE;
  const char* bytes = static_cast<const char*>(image);
  // Only cubins (NVRTC writes ELF for EM_CUDA); PTX and fatbins are not accepted.
  if (std::memcmp(bytes, ELFMAG, SELFMAG) != 0 || bytes[EI_CLASS] != ELFCLASS64 || bytes[EI_DATA] != ELFDATA2LSB)
    return CUDA_ERROR_INVALID_IMAGE;
  Elf64_Ehdr header;
  std::memcpy(&header, bytes, sizeof header);
  if (header.e_machine != EM_CUDA || (header.e_shnum != 0 && header.e_shentsize < sizeof(Elf64_Shdr)))
    return CUDA_ERROR_INVALID_IMAGE;
  // e_flags bits 8-15 hold the SM version in the ELF ABI NVRTC 12.8+ writes (version 8). A
  // cubin runs on devices of its major version with the same or a newer minor.
  if (bytes[EI_ABIVERSION] != 8) return CUDA_ERROR_INVALID_IMAGE;
  const int sm = static_cast<int>((header.e_flags >> 8) & 0xff);
  if (sm / 10 != d.cc_major || sm % 10 > d.cc_minor) return CUDA_ERROR_NO_BINARY_FOR_GPU;
  auto loaded = std::make_unique<CUmod_st>();
  loaded->image.assign(bytes, bytes + elf_size(header, bytes));
  *module = d.modules.add(std::move(loaded));
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuModuleUnload(CUmodule module) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (!d.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (!d.modules.contains(module)) return CUDA_ERROR_INVALID_HANDLE;
  for (const auto& [name, function] : module->functions) d.functions.erase(function.get());
  d.modules.remove(module);
  return context_call(d);
}

CUresult CUDAAPI cuModuleGetFunction(CUfunction* function, CUmodule module, const char* name) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (function == nullptr || name == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!d.modules.contains(module)) return CUDA_ERROR_INVALID_HANDLE;
  if (auto it = module->functions.find(name); it != module->functions.end()) {
    *function = it->second.get();
    return CUDA_SUCCESS;
  }
  // The symbol's name is a NUL-terminated entry of the cubin's string table.
  const std::string entry = std::string(1, '\0') + name + '\0';
  if (std::search(module->image.begin(), module->image.end(), entry.begin(), entry.end()) == module->image.end())
    return CUDA_ERROR_NOT_FOUND;
  auto created = std::make_unique<CUfunc_st>();
  created->name = name;
  *function = created.get();
  d.functions.insert(created.get());
  module->functions.emplace(name, std::move(created));
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuFuncSetAttribute(CUfunction function, CUfunction_attribute attribute, int value) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (!d.functions.contains(function)) return CUDA_ERROR_INVALID_HANDLE;
  // The only attribute the fake models; the others fail rather than be silently ignored.
  if (attribute != CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES || value < 0 || value > kMaxSharedPerBlockOptin)
    return CUDA_ERROR_INVALID_VALUE;
  function->max_dynamic_shared = value;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuLaunchKernel(CUfunction function, unsigned int grid_x, unsigned int grid_y, unsigned int grid_z,
                                unsigned int block_x, unsigned int block_y, unsigned int block_z,
                                unsigned int shared_bytes, CUstream stream, void** /*params*/, void** /*extra*/) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (!valid_stream(d, stream)) return CUDA_ERROR_INVALID_HANDLE;
  const Launch launch{function, {grid_x, grid_y, grid_z}, {block_x, block_y, block_z}, shared_bytes};
  if (CUresult r = check_launch(d, launch)) return r;
  if (CUstream_st* capture = capturing(stream)) {
    if (capture->capture_invalidated) return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    capture->captured.push_back(launch);
    return CUDA_SUCCESS;
  }
  run(d, launch);
  return launched(d);
}

CUresult CUDAAPI cuMemAlloc(CUdeviceptr* pointer, std::size_t bytes) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (CUresult r = capture_safe(d)) return r;
  if (pointer == nullptr || bytes == 0) return CUDA_ERROR_INVALID_VALUE;
  if (bytes > d.memory - d.allocated) return CUDA_ERROR_OUT_OF_MEMORY;
  const std::size_t rounded = (bytes + kAllocationAlignment - 1) / kAllocationAlignment * kAllocationAlignment;
  void* memory = std::aligned_alloc(kAllocationAlignment, rounded);
  if (memory == nullptr) return CUDA_ERROR_OUT_OF_MEMORY;
  std::memset(memory, d.fill, rounded);  // device memory does not start zeroed (FAKE_CUDA_FILL)
  *pointer = reinterpret_cast<CUdeviceptr>(memory);
  d.allocations.emplace(*pointer, bytes);
  d.allocated += bytes;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemFree(CUdeviceptr pointer) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (!d.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (CUresult r = capture_safe(d)) return r;
  auto it = d.allocations.find(pointer);
  if (it == d.allocations.end()) return CUDA_ERROR_INVALID_VALUE;
  d.allocated -= it->second;
  std::free(reinterpret_cast<void*>(it->first));
  d.allocations.erase(it);
  return context_call(d);
}

CUresult CUDAAPI cuMemcpyHtoD(CUdeviceptr destination, const void* source, std::size_t bytes) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (CUresult r = capture_safe(d)) return r;
  if (source == nullptr || !inside_allocation(d, destination, bytes)) return CUDA_ERROR_INVALID_VALUE;
  std::memcpy(reinterpret_cast<void*>(destination), source, bytes);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemcpyDtoH(void* destination, CUdeviceptr source, std::size_t bytes) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (CUresult r = capture_safe(d)) return r;
  if (destination == nullptr || !inside_allocation(d, source, bytes)) return CUDA_ERROR_INVALID_VALUE;
  std::memcpy(destination, reinterpret_cast<const void*>(source), bytes);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuMemsetD8(CUdeviceptr destination, unsigned char value, std::size_t count) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (CUresult r = capture_safe(d)) return r;
  if (!inside_allocation(d, destination, count)) return CUDA_ERROR_INVALID_VALUE;
  std::memset(reinterpret_cast<void*>(destination), value, count);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamCreate(CUstream* stream, unsigned int flags) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (stream == nullptr || (flags & ~static_cast<unsigned>(CU_STREAM_NON_BLOCKING)) != 0)
    return CUDA_ERROR_INVALID_VALUE;
  *stream = d.streams.add(std::make_unique<CUstream_st>());
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamDestroy(CUstream stream) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (!d.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (!d.streams.remove(stream)) return CUDA_ERROR_INVALID_HANDLE;
  return context_call(d);
}

CUresult CUDAAPI cuStreamSynchronize(CUstream stream) {
  Driver& d = driver();
  std::unique_lock lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (!valid_stream(d, stream)) return CUDA_ERROR_INVALID_HANDLE;
  if (CUstream_st* capture = capturing(stream)) {
    capture->capture_invalidated = true;
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  }
  // A held stream blocks its waiters, as a collective that a peer never joins does.
  while (stream != nullptr && d.streams.contains(stream) && busy(d, stream)) {
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    lock.lock();
  }
  return capture_safe(d);
}

CUresult CUDAAPI cuStreamQuery(CUstream stream) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (!valid_stream(d, stream)) return CUDA_ERROR_INVALID_HANDLE;
  if (CUstream_st* capture = capturing(stream)) {
    capture->capture_invalidated = true;
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  }
  return busy(d, stream) ? CUDA_ERROR_NOT_READY : CUDA_SUCCESS;
}

// The test hook of tests/fake_nccl: a collective that hangs holds its stream until an abort
// releases it. Not a CUDA entry point.
extern "C" __attribute__((visibility("default"))) void fake_cuda_hold_stream(CUstream stream, int held) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (d.streams.contains(stream)) stream->held = held != 0;
}

CUresult CUDAAPI cuEventCreate(CUevent* event, unsigned int flags) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (event == nullptr) return CUDA_ERROR_INVALID_VALUE;
  auto created = std::make_unique<CUevent_st>();
  created->flags = flags;
  *event = d.events.add(std::move(created));
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventDestroy(CUevent event) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (!d.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (!d.events.remove(event)) return CUDA_ERROR_INVALID_HANDLE;
  return context_call(d);
}

CUresult CUDAAPI cuEventRecord(CUevent event, CUstream stream) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (!d.events.contains(event) || !valid_stream(d, stream)) return CUDA_ERROR_INVALID_HANDLE;
  event->recorded = true;
  event->after.clear();
  if (busy(d, stream)) {
    event->after = stream->waits_for;
    if (stream->held) event->after.insert(stream);
  }
  log_line(d, "record %p on %p\n", event, stream);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamWaitEvent(CUstream stream, CUevent event, unsigned int flags) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (!d.events.contains(event) || !valid_stream(d, stream)) return CUDA_ERROR_INVALID_HANDLE;
  if (flags != CU_EVENT_WAIT_DEFAULT) return CUDA_ERROR_INVALID_VALUE;
  // The default streams are never held here, so only a stream of ours can wait.
  if (stream != nullptr && stream != CU_STREAM_LEGACY && stream != CU_STREAM_PER_THREAD)
    stream->waits_for.insert(event->after.begin(), event->after.end());
  log_line(d, "wait %p for %p\n", stream, event);
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventSynchronize(CUevent event) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (!d.events.contains(event)) return CUDA_ERROR_INVALID_HANDLE;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuEventElapsedTime(float* milliseconds, CUevent start, CUevent end) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (milliseconds == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!d.events.contains(start) || !d.events.contains(end)) return CUDA_ERROR_INVALID_HANDLE;
  // Both must have been recorded, with timing.
  if (!start->recorded || !end->recorded || ((start->flags | end->flags) & CU_EVENT_DISABLE_TIMING) != 0)
    return CUDA_ERROR_INVALID_HANDLE;
  *milliseconds = 0.1f;
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamBeginCapture(CUstream stream, CUstreamCaptureMode mode) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (!valid_stream(d, stream)) return CUDA_ERROR_INVALID_HANDLE;
  // The legacy default stream cannot be captured.
  if (stream == nullptr || stream == CU_STREAM_LEGACY || stream == CU_STREAM_PER_THREAD)
    return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  if (stream->capturing) return CUDA_ERROR_ILLEGAL_STATE;
  static_cast<Capture&>(*stream) = Capture{};
  stream->capturing = true;
  stream->capture_mode = mode;
  stream->capture_thread = std::this_thread::get_id();
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuStreamEndCapture(CUstream stream, CUgraph* graph) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (graph == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (!valid_stream(d, stream)) return CUDA_ERROR_INVALID_HANDLE;
  CUstream_st* capture = capturing(stream);
  if (capture == nullptr) return CUDA_ERROR_ILLEGAL_STATE;
  if (capture->capture_mode != CU_STREAM_CAPTURE_MODE_RELAXED && capture->capture_thread != std::this_thread::get_id())
    return CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD;
  const bool invalidated = capture->capture_invalidated;
  auto captured = std::make_unique<CUgraph_st>();
  captured->launches = std::move(capture->captured);
  static_cast<Capture&>(*capture) = Capture{};
  if (invalidated) {
    *graph = nullptr;
    return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
  }
  *graph = d.graphs.add(std::move(captured));
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphInstantiateWithFlags(CUgraphExec* exec, CUgraph graph, unsigned long long flags) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (exec == nullptr || flags != 0) return CUDA_ERROR_INVALID_VALUE;
  if (!d.graphs.contains(graph)) return CUDA_ERROR_INVALID_HANDLE;
  auto created = std::make_unique<CUgraphExec_st>();
  created->launches = graph->launches;
  *exec = d.execs.add(std::move(created));
  return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGraphLaunch(CUgraphExec exec, CUstream stream) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (CUresult r = context_call(d)) return r;
  if (!d.execs.contains(exec) || !valid_stream(d, stream)) return CUDA_ERROR_INVALID_HANDLE;
  if (CUstream_st* capture = capturing(stream)) {
    capture->captured.insert(capture->captured.end(), exec->launches.begin(), exec->launches.end());
    return CUDA_SUCCESS;
  }
  // A module unloaded since the capture leaves the graph pointing at code that is gone.
  for (const Launch& launch : exec->launches)
    if (CUresult r = check_launch(d, launch)) return r;
  // A fault ends the graph: the kernels after it do not run.
  for (const Launch& launch : exec->launches)
    if (d.sticky == CUDA_SUCCESS) run(d, launch);
  return launched(d);
}

CUresult CUDAAPI cuGraphExecDestroy(CUgraphExec exec) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (!d.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (!d.execs.remove(exec)) return CUDA_ERROR_INVALID_HANDLE;
  return context_call(d);
}

CUresult CUDAAPI cuGraphDestroy(CUgraph graph) {
  Driver& d = driver();
  std::lock_guard lock(d.mutex);
  if (!d.initialized) return CUDA_ERROR_NOT_INITIALIZED;
  if (!d.graphs.remove(graph)) return CUDA_ERROR_INVALID_HANDLE;
  return context_call(d);
}

}  // extern "C"
