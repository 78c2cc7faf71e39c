#include "runtime/cuda/driver_api.h"

#include <dlfcn.h>

#include <cstdlib>

#include <fmt/format.h>

#include "runtime/cuda/error.h"

namespace resnetc::cuda::detail {
namespace {

template <class Fn>
Fn resolve(void* library, const char* library_name, const char* symbol) {
  void* address = dlsym(library, symbol);
  if (address == nullptr) {
    throw CudaError(fmt::format("{} has no entry point {}: the NVIDIA driver is older than CUDA {}.{}",
                                library_name, symbol, CUDA_VERSION / 1000, CUDA_VERSION % 1000 / 10));
  }
  return reinterpret_cast<Fn>(address);
}

}  // namespace

// Two levels so that the argument is macro-expanded first: cuMemAlloc -> "cuMemAlloc_v2".
#define RESNETC_CUDA_STRINGIFY_EXPANDED(name) #name
#define RESNETC_CUDA_STRINGIFY(name) RESNETC_CUDA_STRINGIFY_EXPANDED(name)
#define RESNETC_CUDA_RESOLVE(member, name) \
  api.member = resolve<decltype(&::name)>(handle, library, RESNETC_CUDA_STRINGIFY(name))

DriverApi load_driver_api(const char* library) {
  // The handle is never dlclose'd: kernels, buffers and static destructors may use the driver
  // until the process exits.
  void* handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    throw CudaError(fmt::format("no NVIDIA driver found ({} could not be loaded: {}); use --device cpu",
                                library, why != nullptr ? why : "unknown error"));
  }
  DriverApi api{};
  RESNETC_CUDA_RESOLVE(init, cuInit);
  RESNETC_CUDA_RESOLVE(driver_get_version, cuDriverGetVersion);
  RESNETC_CUDA_RESOLVE(get_error_name, cuGetErrorName);
  RESNETC_CUDA_RESOLVE(get_error_string, cuGetErrorString);
  RESNETC_CUDA_RESOLVE(device_get_count, cuDeviceGetCount);
  RESNETC_CUDA_RESOLVE(device_get, cuDeviceGet);
  RESNETC_CUDA_RESOLVE(device_get_name, cuDeviceGetName);
  RESNETC_CUDA_RESOLVE(device_get_attribute, cuDeviceGetAttribute);
  RESNETC_CUDA_RESOLVE(device_total_mem, cuDeviceTotalMem);
  RESNETC_CUDA_RESOLVE(primary_ctx_retain, cuDevicePrimaryCtxRetain);
  RESNETC_CUDA_RESOLVE(primary_ctx_release, cuDevicePrimaryCtxRelease);
  RESNETC_CUDA_RESOLVE(ctx_set_current, cuCtxSetCurrent);
  RESNETC_CUDA_RESOLVE(ctx_synchronize, cuCtxSynchronize);
  RESNETC_CUDA_RESOLVE(module_load_data, cuModuleLoadData);
  RESNETC_CUDA_RESOLVE(module_unload, cuModuleUnload);
  RESNETC_CUDA_RESOLVE(module_get_function, cuModuleGetFunction);
  RESNETC_CUDA_RESOLVE(func_set_attribute, cuFuncSetAttribute);
  RESNETC_CUDA_RESOLVE(launch_kernel, cuLaunchKernel);
  RESNETC_CUDA_RESOLVE(mem_alloc, cuMemAlloc);
  RESNETC_CUDA_RESOLVE(mem_free, cuMemFree);
  RESNETC_CUDA_RESOLVE(memcpy_htod, cuMemcpyHtoD);
  RESNETC_CUDA_RESOLVE(memcpy_dtoh, cuMemcpyDtoH);
  RESNETC_CUDA_RESOLVE(memset_d8, cuMemsetD8);
  RESNETC_CUDA_RESOLVE(stream_create, cuStreamCreate);
  RESNETC_CUDA_RESOLVE(stream_destroy, cuStreamDestroy);
  RESNETC_CUDA_RESOLVE(stream_synchronize, cuStreamSynchronize);
  RESNETC_CUDA_RESOLVE(stream_query, cuStreamQuery);
  RESNETC_CUDA_RESOLVE(stream_wait_event, cuStreamWaitEvent);
  RESNETC_CUDA_RESOLVE(event_create, cuEventCreate);
  RESNETC_CUDA_RESOLVE(event_destroy, cuEventDestroy);
  RESNETC_CUDA_RESOLVE(event_record, cuEventRecord);
  RESNETC_CUDA_RESOLVE(event_synchronize, cuEventSynchronize);
  RESNETC_CUDA_RESOLVE(event_elapsed_time, cuEventElapsedTime);
  RESNETC_CUDA_RESOLVE(stream_begin_capture, cuStreamBeginCapture);
  RESNETC_CUDA_RESOLVE(stream_end_capture, cuStreamEndCapture);
  RESNETC_CUDA_RESOLVE(graph_instantiate, cuGraphInstantiateWithFlags);
  RESNETC_CUDA_RESOLVE(graph_launch, cuGraphLaunch);
  RESNETC_CUDA_RESOLVE(graph_exec_destroy, cuGraphExecDestroy);
  RESNETC_CUDA_RESOLVE(graph_destroy, cuGraphDestroy);
  return api;
}

#undef RESNETC_CUDA_RESOLVE
#undef RESNETC_CUDA_STRINGIFY
#undef RESNETC_CUDA_STRINGIFY_EXPANDED

namespace {

DriverApi load_and_init() {
  // RESNETC_CUDA_DRIVER, when set, names the driver library to load instead of libcuda.so.1:
  // the tests point it at a fake driver (tests/fake_driver) to run the GPU runtime without a GPU.
  const char* override_library = std::getenv("RESNETC_CUDA_DRIVER");
  DriverApi api = load_driver_api(override_library != nullptr && *override_library != '\0' ? override_library
                                                                                            : "libcuda.so.1");
  // Checked by hand: check() would call driver(), which is what is being initialised.
  if (CUresult result = api.init(0); result != CUDA_SUCCESS) {
    throw CudaError(fmt::format("cuInit: {}; use --device cpu", describe_result(api, result)));
  }
  return api;
}

}  // namespace

const DriverApi& driver() {
  // A failed load throws out of the initialiser, so the next call tries again.
  static const DriverApi api = load_and_init();
  return api;
}

std::string describe_result(const DriverApi& api, CUresult result) {
  const char* name = nullptr;
  const char* text = nullptr;
  if (api.get_error_name(result, &name) != CUDA_SUCCESS || name == nullptr) {
    return fmt::format("CUDA error {} (unknown to this driver)", static_cast<int>(result));
  }
  if (api.get_error_string(result, &text) != CUDA_SUCCESS || text == nullptr) {
    return name;
  }
  return fmt::format("{}: {}", name, text);
}

void throw_driver_error(CUresult result, std::string_view call) {
  throw CudaError(fmt::format("{}: {}", call, describe_result(driver(), result)));
}

}  // namespace resnetc::cuda::detail
