#pragma once

// Internal: the driver entry points, resolved from libcuda.so.1 with dlsym at run time.
// <cuda.h> is included for its types and prototypes only; nothing links against libcuda, so
// binaries start on machines without the NVIDIA driver.
#include <cuda.h>

#include <string>
#include <string_view>
#include <type_traits>

namespace resnetc::cuda::detail {

// The header #defines several API names to their current versions (cuMemAlloc -> cuMemAlloc_v2,
// cuEventElapsedTime -> cuEventElapsedTime_v2, ...). Each member's type is decltype(&::name) and
// its symbol is the stringified, macro-expanded name, so the signature and the dlsym'ed version
// always agree with the header.
struct DriverApi {
  decltype(&::cuInit) init;
  decltype(&::cuDriverGetVersion) driver_get_version;
  decltype(&::cuGetErrorName) get_error_name;
  decltype(&::cuGetErrorString) get_error_string;
  decltype(&::cuDeviceGetCount) device_get_count;
  decltype(&::cuDeviceGet) device_get;
  decltype(&::cuDeviceGetName) device_get_name;
  decltype(&::cuDeviceGetAttribute) device_get_attribute;
  decltype(&::cuDeviceTotalMem) device_total_mem;
  decltype(&::cuDevicePrimaryCtxRetain) primary_ctx_retain;
  decltype(&::cuDevicePrimaryCtxRelease) primary_ctx_release;
  decltype(&::cuCtxSetCurrent) ctx_set_current;
  decltype(&::cuCtxSynchronize) ctx_synchronize;
  decltype(&::cuModuleLoadData) module_load_data;
  decltype(&::cuModuleUnload) module_unload;
  decltype(&::cuModuleGetFunction) module_get_function;
  decltype(&::cuFuncSetAttribute) func_set_attribute;
  decltype(&::cuLaunchKernel) launch_kernel;
  decltype(&::cuMemAlloc) mem_alloc;
  decltype(&::cuMemFree) mem_free;
  decltype(&::cuMemcpyHtoD) memcpy_htod;
  decltype(&::cuMemcpyDtoH) memcpy_dtoh;
  decltype(&::cuMemsetD8) memset_d8;
  decltype(&::cuStreamCreate) stream_create;
  decltype(&::cuStreamDestroy) stream_destroy;
  decltype(&::cuStreamSynchronize) stream_synchronize;
  decltype(&::cuStreamQuery) stream_query;
  decltype(&::cuStreamWaitEvent) stream_wait_event;
  decltype(&::cuEventCreate) event_create;
  decltype(&::cuEventDestroy) event_destroy;
  decltype(&::cuEventRecord) event_record;
  decltype(&::cuEventSynchronize) event_synchronize;
  decltype(&::cuEventElapsedTime) event_elapsed_time;
  decltype(&::cuStreamBeginCapture) stream_begin_capture;
  decltype(&::cuStreamEndCapture) stream_end_capture;
  decltype(&::cuGraphInstantiateWithFlags) graph_instantiate;
  decltype(&::cuGraphLaunch) graph_launch;
  decltype(&::cuGraphExecDestroy) graph_exec_destroy;
  decltype(&::cuGraphDestroy) graph_destroy;
};

// dlopen()s `library` and resolves every entry point; throws CudaError naming the library and
// the dlerror() text. Does not call cuInit.
DriverApi load_driver_api(const char* library);

// The process-wide API from libcuda.so.1, loaded and cuInit'ed on first use; throws CudaError
// (suggesting --device cpu) when there is no driver.
const DriverApi& driver();

// "CUDA_ERROR_OUT_OF_MEMORY: out of memory", also for codes the driver does not know.
std::string describe_result(const DriverApi& api, CUresult result);

[[noreturn]] void throw_driver_error(CUresult result, std::string_view call);

// Checks a driver call; `call` names it in the message, e.g. "cuMemAlloc(1.5 GiB)".
inline void check(CUresult result, std::string_view call) {
  if (result != CUDA_SUCCESS) [[unlikely]] {
    throw_driver_error(result, call);
  }
}

// As above, for messages that cost a formatting call: `describe()` runs only on failure.
template <class Describe>
  requires std::is_invocable_r_v<std::string, Describe>
void check(CUresult result, Describe&& describe) {
  if (result != CUDA_SUCCESS) [[unlikely]] {
    throw_driver_error(result, describe());
  }
}

}  // namespace resnetc::cuda::detail
