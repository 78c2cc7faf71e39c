#include "runtime/cuda/driver.h"

#include <fmt/format.h>

#include <type_traits>
#include <utility>

#include "runtime/cuda/driver_api.h"

namespace resnetc::cuda {

static_assert(std::is_same_v<DevicePtr, CUdeviceptr>);
static_assert(std::is_same_v<Function, CUfunction>);
static_assert(std::is_same_v<StreamHandle, CUstream>);

using detail::check;
using detail::driver;

namespace {

// "1.5 GiB", for allocation failures: the size is what the user needs to see.
std::string format_bytes(std::size_t bytes) {
  constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  auto value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(units)) {
    value /= 1024.0;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

int attribute(CUdevice device, CUdevice_attribute which, const char* what) {
  int value = 0;
  check(driver().device_get_attribute(&value, which, device),
        [&] { return fmt::format("cuDeviceGetAttribute({})", what); });
  return value;
}

}  // namespace

bool driver_available() noexcept {
  try {
    return device_count() > 0;
  } catch (...) {
    return false;
  }
}

int device_count() {
  int count = 0;
  check(driver().device_get_count(&count), "cuDeviceGetCount");
  return count;
}

Device::Device(int index) : index_(index) {
  const auto& api = driver();
  if (int count = device_count(); index < 0 || index >= count) {
    throw CudaError(fmt::format("no CUDA device {}: the driver reports {} device(s)", index, count));
  }
  check(api.device_get(&handle_, index), "cuDeviceGet");
  check(api.driver_get_version(&driver_version_), "cuDriverGetVersion");

  char name[256] = {};
  check(api.device_get_name(name, sizeof name, handle_), "cuDeviceGetName");
  name_ = name;
  cc_major_ = attribute(handle_, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, "compute capability major");
  cc_minor_ = attribute(handle_, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, "compute capability minor");
  multiprocessor_count_ = attribute(handle_, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, "multiprocessor count");
  check(api.device_total_mem(&total_memory_, handle_), "cuDeviceTotalMem");

  // The primary context is the one the runtime API and other libraries share, so resnetc's
  // buffers stay usable by them; retained here, released in the destructor.
  check(api.primary_ctx_retain(&context_, handle_), "cuDevicePrimaryCtxRetain");
  try {
    make_current();
  } catch (...) {
    api.primary_ctx_release(handle_);
    throw;
  }
}

Device::~Device() {
  // Destructors cannot report errors; a failing release leaves nothing to clean up.
  driver().primary_ctx_release(handle_);
}

std::string Device::arch() const { return fmt::format("sm_{}{}", cc_major_, cc_minor_); }

void Device::make_current() const { check(driver().ctx_set_current(context_), "cuCtxSetCurrent"); }

void Device::synchronize() const { check(driver().ctx_synchronize(), "cuCtxSynchronize"); }

DeviceBuffer::DeviceBuffer(const Device& device, std::size_t bytes) : size_(bytes) {
  if (bytes == 0) {
    return;  // cuMemAlloc rejects zero bytes
  }
  device.make_current();
  check(driver().mem_alloc(&ptr_, bytes), [&] { return fmt::format("cuMemAlloc({})", format_bytes(bytes)); });
}

DeviceBuffer::~DeviceBuffer() { release(); }

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, 0)), size_(std::exchange(other.size_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    release();
    ptr_ = std::exchange(other.ptr_, 0);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void DeviceBuffer::release() noexcept {
  if (ptr_ != 0) {
    driver().mem_free(ptr_);
    ptr_ = 0;
  }
}

namespace {

void check_range(std::size_t offset, std::size_t bytes, std::size_t size, const char* what) {
  if (offset > size || bytes > size - offset) {
    throw CudaError(fmt::format("{} of {} at offset {} overruns a {} device buffer", what, format_bytes(bytes),
                                offset, format_bytes(size)));
  }
}

}  // namespace

void DeviceBuffer::upload(std::span<const std::byte> host, std::size_t offset) {
  check_range(offset, host.size(), size_, "upload");
  if (host.empty()) {
    return;
  }
  check(driver().memcpy_htod(ptr_ + offset, host.data(), host.size()),
        [&] { return fmt::format("cuMemcpyHtoD({})", format_bytes(host.size())); });
}

void DeviceBuffer::download(std::span<std::byte> host, std::size_t offset) const {
  check_range(offset, host.size(), size_, "download");
  if (host.empty()) {
    return;
  }
  check(driver().memcpy_dtoh(host.data(), ptr_ + offset, host.size()),
        [&] { return fmt::format("cuMemcpyDtoH({})", format_bytes(host.size())); });
}

void DeviceBuffer::fill_zero() {
  if (size_ != 0) {
    check(driver().memset_d8(ptr_, 0, size_), [&] { return fmt::format("cuMemsetD8({})", format_bytes(size_)); });
  }
}

Module::Module(const Device& device, std::span<const std::byte> cubin) {
  device.make_current();
  check(driver().module_load_data(&module_, cubin.data()),
        [&] { return fmt::format("cuModuleLoadData({} cubin)", format_bytes(cubin.size())); });
}

Module::~Module() {
  if (module_ != nullptr) {
    driver().module_unload(module_);
  }
}

Module::Module(Module&& other) noexcept : module_(std::exchange(other.module_, nullptr)) {}

Module& Module::operator=(Module&& other) noexcept {
  if (this != &other) {
    if (module_ != nullptr) {
      driver().module_unload(module_);
    }
    module_ = std::exchange(other.module_, nullptr);
  }
  return *this;
}

Function Module::function(const std::string& name) const {
  CUfunction function = nullptr;
  check(driver().module_get_function(&function, module_, name.c_str()),
        [&] { return fmt::format("cuModuleGetFunction({})", name); });
  return function;
}

void set_max_dynamic_shared_memory(Function function, int bytes) {
  check(driver().func_set_attribute(function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes),
        [&] { return fmt::format("cuFuncSetAttribute(max dynamic shared memory {})", format_bytes(static_cast<std::size_t>(bytes))); });
}

void launch(Function function, const LaunchConfig& config, std::span<void*> params) {
  const Dim3& g = config.grid;
  const Dim3& b = config.block;
  check(driver().launch_kernel(function, g.x, g.y, g.z, b.x, b.y, b.z, config.shared_bytes, config.stream,
                               params.data(), nullptr),
        [&] {
          return fmt::format("cuLaunchKernel(grid {}x{}x{}, block {}x{}x{}, {} dynamic shared)", g.x, g.y, g.z, b.x,
                             b.y, b.z, format_bytes(config.shared_bytes));
        });
}

}  // namespace resnetc::cuda
