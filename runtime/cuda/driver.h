#pragma once

// Devices, memory, modules and kernel launches on top of the dlopen'ed driver API
// (driver_api.h). Users of this header need no CUDA headers and nothing links libcuda.

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <type_traits>

#include "runtime/cuda/error.h"

// The driver's opaque handle types, declared exactly as <cuda.h> declares them.
struct CUctx_st;
struct CUmod_st;
struct CUfunc_st;
struct CUstream_st;

namespace resnetc::cuda {

using Function = CUfunc_st*;
using StreamHandle = CUstream_st*;
using DevicePtr = unsigned long long;  // CUdeviceptr

// True when libcuda.so.1 loads, cuInit succeeds and at least one device exists. Never throws,
// so the CLI can choose its default device with it.
bool driver_available() noexcept;

// Number of CUDA devices; throws CudaError when there is no driver.
int device_count();

// One GPU and its primary context. The constructor makes that context current on the calling
// thread; other threads call make_current() before using the device. Buffers, modules and
// streams must not outlive their Device.
class Device {
public:
  explicit Device(int index = 0);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  int index() const noexcept { return index_; }
  const std::string& name() const noexcept { return name_; }
  // Compute capability as one number: 90 for 9.0 (H100).
  int compute_capability() const noexcept { return cc_major_ * 10 + cc_minor_; }
  // The NVRTC architecture for this device, e.g. "sm_90".
  std::string arch() const;
  std::size_t total_memory() const noexcept { return total_memory_; }
  int multiprocessor_count() const noexcept { return multiprocessor_count_; }
  // CUDA version the driver supports, e.g. 13000 for 13.0.
  int driver_version() const noexcept { return driver_version_; }

  void make_current() const;
  // Waits for all work on the device; reports asynchronous kernel faults.
  void synchronize() const;

private:
  int index_;
  int handle_ = 0;  // CUdevice
  CUctx_st* context_ = nullptr;
  std::string name_;
  int cc_major_ = 0;
  int cc_minor_ = 0;
  std::size_t total_memory_ = 0;
  int multiprocessor_count_ = 0;
  int driver_version_ = 0;
};

// Owns a device allocation. Copies are synchronous (cuMemcpyHtoD/DtoH); a zero-byte buffer
// allocates nothing.
class DeviceBuffer {
public:
  DeviceBuffer() = default;
  DeviceBuffer(const Device& device, std::size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  DevicePtr get() const noexcept { return ptr_; }
  std::size_t size() const noexcept { return size_; }

  // Copies `host` to the buffer at byte `offset`; throws CudaError when it does not fit.
  void upload(std::span<const std::byte> host, std::size_t offset = 0);
  // Fills `host` from the buffer at byte `offset`; throws CudaError when it does not fit.
  void download(std::span<std::byte> host, std::size_t offset = 0) const;
  void fill_zero();

private:
  void release() noexcept;

  DevicePtr ptr_ = 0;
  std::size_t size_ = 0;
};

// A loaded cubin.
class Module {
public:
  Module(const Device& device, std::span<const std::byte> cubin);
  ~Module();
  Module(Module&& other) noexcept;
  Module& operator=(Module&& other) noexcept;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The extern "C" kernel `name`; throws CudaError when the module has none.
  Function function(const std::string& name) const;

private:
  CUmod_st* module_ = nullptr;
};

// Kernels need this before a launch with more than 48 KiB of dynamic shared memory.
void set_max_dynamic_shared_memory(Function function, int bytes);

struct Dim3 {
  unsigned x = 1;
  unsigned y = 1;
  unsigned z = 1;
};

struct LaunchConfig {
  Dim3 grid{};
  Dim3 block{};
  unsigned shared_bytes = 0;
  StreamHandle stream = nullptr;  // nullptr: the legacy default stream
};

// params[i] points to the value of the kernel's i-th parameter (cuLaunchKernel's convention).
void launch(Function function, const LaunchConfig& config, std::span<void*> params);

// launch() with the kernel's arguments given directly. Each argument's type must be exactly the
// kernel parameter's type (pass DevicePtr for pointers, int for int, ...): the driver copies
// sizeof(parameter) bytes from each address and cannot check.
template <class... Args>
void launch_with(Function function, const LaunchConfig& config, const Args&... args) {
  static_assert((std::is_trivially_copyable_v<Args> && ...), "kernel arguments are copied bytewise");
  std::array<void*, sizeof...(Args)> params{const_cast<void*>(static_cast<const void*>(&args))...};
  launch(function, config, params);
}

}  // namespace resnetc::cuda
