// The fake driver's own rules, called through the runtime's DriverApi: the resnetc runs in
// run_fake_driver.py prove something only if the fake refuses what a real driver refuses.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "runtime/cuda/driver_api.h"
#include "runtime/cuda/nvrtc.h"

using namespace resnetc::cuda;

namespace {

constexpr std::size_t kMemory = 1 << 20;

// The fake (RESNETC_FAKE_CUDA_DRIVER, see CMakeLists.txt) with 1 MiB of memory, initialised, its
// primary context current on the calling thread. cuInit reads the settings, so they are set first.
const detail::DriverApi& fake() {
  static const detail::DriverApi api = [] {
    setenv("FAKE_CUDA_MEMORY", std::to_string(kMemory).c_str(), 1);
    for (const char* inherited :
         {"FAKE_CUDA_CC", "FAKE_CUDA_FAIL_LAUNCH", "FAKE_CUDA_FILL", "FAKE_CUDA_DEVICES", "CUDA_LAUNCH_BLOCKING"})
      unsetenv(inherited);
    detail::DriverApi loaded = detail::load_driver_api(RESNETC_FAKE_CUDA_DRIVER);
    REQUIRE(loaded.init(0) == CUDA_SUCCESS);
    return loaded;
  }();
  static CUcontext context = [] {
    CUcontext retained = nullptr;
    REQUIRE(api.primary_ctx_retain(&retained, 0) == CUDA_SUCCESS);
    return retained;
  }();
  REQUIRE(api.ctx_set_current(context) == CUDA_SUCCESS);
  return api;
}

std::vector<std::byte> cubin(const std::string& arch) {
  CompileRequest request;
  request.source = "extern \"C\" __global__ void fill_ones(float* x) { x[threadIdx.x] = 1.0f; }";
  request.arch = arch;
  return compile(request).cubin;
}

CUfunction fill_ones() {
  static const std::vector<std::byte> image = cubin("sm_90");
  CUmodule module = nullptr;
  REQUIRE(fake().module_load_data(&module, image.data()) == CUDA_SUCCESS);
  CUfunction function = nullptr;
  REQUIRE(fake().module_get_function(&function, module, "fill_ones") == CUDA_SUCCESS);
  return function;
}

CUresult launch(CUfunction f, unsigned grid, unsigned block_x, unsigned block_z = 1, unsigned shared = 0,
                CUstream stream = nullptr) {
  return fake().launch_kernel(f, grid, 1, 1, block_x, 1, block_z, shared, stream, nullptr, nullptr);
}

}  // namespace

TEST_CASE("the fake is one H100-like device", "[fake_driver]") {
  const auto& api = fake();
  int count = 0, version = 0, major = 0, minor = 0, sms = 0;
  CHECK(api.device_get_count(&count) == CUDA_SUCCESS);
  CHECK(count == 1);
  CHECK(api.driver_get_version(&version) == CUDA_SUCCESS);
  CHECK(version == 13000);
  char name[64] = {};
  CHECK(api.device_get_name(name, sizeof name, 0) == CUDA_SUCCESS);
  CHECK(std::string(name) == "resnetc fake GPU");
  CHECK(api.device_get_attribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 0) == CUDA_SUCCESS);
  CHECK(api.device_get_attribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0) == CUDA_SUCCESS);
  CHECK(api.device_get_attribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0) == CUDA_SUCCESS);
  CHECK((major == 9 && minor == 0 && sms == 132));
  std::size_t memory = 0;
  CHECK(api.device_total_mem(&memory, 0) == CUDA_SUCCESS);
  CHECK(memory == kMemory);
  CUdevice device = 0;
  CHECK(api.device_get(&device, 1) == CUDA_ERROR_INVALID_DEVICE);
}

TEST_CASE("memory: not zeroed, bounded, and copies stay inside one allocation", "[fake_driver]") {
  const auto& api = fake();
  CUdeviceptr a = 0, b = 0;
  REQUIRE(api.mem_alloc(&a, kMemory * 3 / 4) == CUDA_SUCCESS);
  unsigned char first = 0;
  CHECK(api.memcpy_dtoh(&first, a, 1) == CUDA_SUCCESS);
  CHECK(first == 0xFF);
  CHECK(api.mem_alloc(&b, kMemory / 2) == CUDA_ERROR_OUT_OF_MEMORY);

  std::vector<unsigned char> host(16, 7);
  CHECK(api.memcpy_htod(a + kMemory * 3 / 4 - 16, host.data(), 16) == CUDA_SUCCESS);
  CHECK(api.memcpy_htod(a + kMemory * 3 / 4 - 8, host.data(), 16) == CUDA_ERROR_INVALID_VALUE);
  CHECK(api.memcpy_dtoh(host.data(), a - 8, 16) == CUDA_ERROR_INVALID_VALUE);
  CHECK(api.memset_d8(a, 0, kMemory * 3 / 4 + 1) == CUDA_ERROR_INVALID_VALUE);
  CHECK(api.memset_d8(a, 0, kMemory * 3 / 4) == CUDA_SUCCESS);

  CHECK(api.mem_free(a) == CUDA_SUCCESS);
  CHECK(api.mem_free(a) == CUDA_ERROR_INVALID_VALUE);
  REQUIRE(api.mem_alloc(&b, kMemory / 2) == CUDA_SUCCESS);  // freed memory is available again
  CHECK(api.mem_free(b) == CUDA_SUCCESS);
}

TEST_CASE("a thread without a current context cannot use the device", "[fake_driver]") {
  const auto& api = fake();
  CUresult result = CUDA_SUCCESS;
  std::thread([&] {
    CUdeviceptr p = 0;
    result = api.mem_alloc(&p, 256);
  }).join();
  CHECK(result == CUDA_ERROR_INVALID_CONTEXT);
}

TEST_CASE("modules: cubins for this device's architecture, functions by their exact name", "[fake_driver]") {
  const auto& api = fake();
  CUmodule module = nullptr;
  const char ptx[] = "//\n.version 8.0\n.target sm_90\n";
  CHECK(api.module_load_data(&module, ptx) == CUDA_ERROR_INVALID_IMAGE);
  const std::vector<std::byte> ampere = cubin("sm_80");
  CHECK(api.module_load_data(&module, ampere.data()) == CUDA_ERROR_NO_BINARY_FOR_GPU);

  const std::vector<std::byte> hopper = cubin("sm_90");
  REQUIRE(api.module_load_data(&module, hopper.data()) == CUDA_SUCCESS);
  CUfunction function = nullptr;
  CHECK(api.module_get_function(&function, module, "fill_ones") == CUDA_SUCCESS);
  CHECK(api.module_get_function(&function, module, "fill") == CUDA_ERROR_NOT_FOUND);
  CHECK(api.module_unload(module) == CUDA_SUCCESS);
  CHECK(api.module_unload(module) == CUDA_ERROR_INVALID_HANDLE);
}

TEST_CASE("launches obey the device's limits", "[fake_driver]") {
  const auto& api = fake();
  const CUfunction f = fill_ones();
  CHECK(launch(f, 1, 1024) == CUDA_SUCCESS);
  CHECK(launch(f, 1, 1025) == CUDA_ERROR_INVALID_VALUE);
  CHECK(launch(f, 1, 16, 65) == CUDA_ERROR_INVALID_VALUE);  // block z is at most 64
  CHECK(launch(f, 1, 32, 64) == CUDA_ERROR_INVALID_VALUE);  // 2048 threads
  CHECK(launch(f, 0, 32) == CUDA_ERROR_INVALID_VALUE);
  // Over 48 KiB of dynamic shared memory only after the function asked for it.
  CHECK(launch(f, 1, 32, 1, 48 * 1024) == CUDA_SUCCESS);
  CHECK(launch(f, 1, 32, 1, 64 * 1024) == CUDA_ERROR_INVALID_VALUE);
  CHECK(api.func_set_attribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 64 * 1024) == CUDA_SUCCESS);
  CHECK(launch(f, 1, 32, 1, 64 * 1024) == CUDA_SUCCESS);
  CHECK(launch(f, 1, 32, 1, 64 * 1024 + 4) == CUDA_ERROR_INVALID_VALUE);
  CHECK(api.func_set_attribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 228 * 1024) ==
        CUDA_ERROR_INVALID_VALUE);
}

TEST_CASE("stream capture records launches and refuses synchronous calls", "[fake_driver]") {
  const auto& api = fake();
  const CUfunction f = fill_ones();
  CUstream stream = nullptr;
  REQUIRE(api.stream_create(&stream, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  CHECK(api.stream_begin_capture(nullptr, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL) ==
        CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);

  // A copy while capturing fails and spoils the capture.
  CUgraph graph = nullptr;
  CUdeviceptr p = 0;
  REQUIRE(api.mem_alloc(&p, 256) == CUDA_SUCCESS);
  REQUIRE(api.stream_begin_capture(stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL) == CUDA_SUCCESS);
  CHECK(launch(f, 1, 64, 1, 0, stream) == CUDA_SUCCESS);
  unsigned char byte = 0;
  CHECK(api.memcpy_htod(p, &byte, 1) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  CHECK(api.stream_end_capture(stream, &graph) == CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  CHECK(graph == nullptr);
  CHECK(api.mem_free(p) == CUDA_SUCCESS);

  // Only the capturing thread ends a thread-local capture.
  REQUIRE(api.stream_begin_capture(stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL) == CUDA_SUCCESS);
  CHECK(launch(f, 1, 64, 1, 0, stream) == CUDA_SUCCESS);
  CHECK(launch(f, 1, 2048, 1, 0, stream) == CUDA_ERROR_INVALID_VALUE);  // checked when captured, too
  CUresult other_thread = CUDA_SUCCESS;
  std::thread([&] {
    CUgraph ignored = nullptr;
    other_thread = fake().stream_end_capture(stream, &ignored);
  }).join();
  CHECK(other_thread == CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD);
  REQUIRE(api.stream_end_capture(stream, &graph) == CUDA_SUCCESS);
  CUgraphExec exec = nullptr;
  REQUIRE(api.graph_instantiate(&exec, graph, 0) == CUDA_SUCCESS);
  CHECK(api.graph_destroy(graph) == CUDA_SUCCESS);
  CHECK(api.graph_launch(exec, stream) == CUDA_SUCCESS);
  CHECK(api.stream_synchronize(stream) == CUDA_SUCCESS);
  CHECK(api.graph_exec_destroy(exec) == CUDA_SUCCESS);
  CHECK(api.graph_launch(exec, stream) == CUDA_ERROR_INVALID_HANDLE);
  CHECK(api.stream_destroy(stream) == CUDA_SUCCESS);
}

TEST_CASE("events time only what they recorded", "[fake_driver]") {
  const auto& api = fake();
  CUevent start = nullptr, end = nullptr;
  REQUIRE(api.event_create(&start, CU_EVENT_DEFAULT) == CUDA_SUCCESS);
  REQUIRE(api.event_create(&end, CU_EVENT_DEFAULT) == CUDA_SUCCESS);
  float ms = 0;
  CHECK(api.event_elapsed_time(&ms, start, end) == CUDA_ERROR_INVALID_HANDLE);
  CHECK(api.event_record(start, nullptr) == CUDA_SUCCESS);
  CHECK(api.event_record(end, nullptr) == CUDA_SUCCESS);
  CHECK(api.event_synchronize(end) == CUDA_SUCCESS);
  CHECK(api.event_elapsed_time(&ms, start, end) == CUDA_SUCCESS);
  CHECK(ms == 0.1f);
  CHECK(api.event_destroy(start) == CUDA_SUCCESS);
  CHECK(api.event_destroy(end) == CUDA_SUCCESS);
}

TEST_CASE("errors have the driver's names and texts", "[fake_driver]") {
  const auto& api = fake();
  CHECK(detail::describe_result(api, CUDA_ERROR_ILLEGAL_ADDRESS) ==
        "CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access was encountered");
  CHECK(detail::describe_result(api, CUDA_ERROR_OUT_OF_MEMORY) == "CUDA_ERROR_OUT_OF_MEMORY: out of memory");
}
