#include <catch2/catch.hpp>

#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "runtime/cuda/driver.h"
#include "runtime/cuda/nvrtc.h"
#include "runtime/cuda/ptxas_info.h"
#include "runtime/cuda/stream.h"

// Runs on a GPU machine (ctest -L gpu); elsewhere every test passes with a warning.

using namespace resnetc::cuda;

namespace {

const char* kKernels = R"(
extern "C" __global__ void __launch_bounds__(256) vector_add(const float* a, const float* b, float* c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    c[i] = a[i] + b[i];
  }
}

extern "C" __global__ void __launch_bounds__(256) axpy(float alpha, const float* x, float* y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    y[i] += alpha * x[i];
  }
}

// Reverses each block's slice through dynamic shared memory (more than the default 48 KiB).
extern "C" __global__ void __launch_bounds__(1024) reverse_blocks(const float* in, float* out) {
  extern __shared__ float staged[];
  const int per_thread = 16;
  const int base = blockIdx.x * blockDim.x * per_thread;
  for (int k = 0; k < per_thread; ++k) {
    staged[k * blockDim.x + threadIdx.x] = in[base + k * blockDim.x + threadIdx.x];
  }
  __syncthreads();
  const int count = blockDim.x * per_thread;
  for (int k = 0; k < per_thread; ++k) {
    int j = k * blockDim.x + threadIdx.x;
    out[base + j] = staged[count - 1 - j];
  }
}
)";

// One device and one module for the whole run: opening a primary context is slow.
struct Gpu {
  Device device;
  CompileResult compiled;
  Module module;

  Gpu()
      : compiled(compile({.name = "gpu_test.cu", .source = kKernels, .arch = device.arch(), .ptxas_verbose = true})),
        module(device, compiled.cubin) {}
};

Gpu* gpu() {
  if (!driver_available()) {
    return nullptr;
  }
  static Gpu instance;
  return &instance;
}

template <class T>
std::span<const std::byte> bytes_of(const std::vector<T>& v) {
  return std::as_bytes(std::span(v));
}

template <class T>
std::span<std::byte> writable_bytes_of(std::vector<T>& v) {
  return std::as_writable_bytes(std::span(v));
}

unsigned blocks_for(int n, unsigned block) { return (static_cast<unsigned>(n) + block - 1) / block; }

}  // namespace

TEST_CASE("gpu: the device is described", "[gpu]") {
  Gpu* g = gpu();
  if (g == nullptr) {
    WARN("no NVIDIA driver: GPU tests skipped");
    return;
  }
  const Device& d = g->device;
  WARN(d.name() << ", " << d.arch() << ", " << d.multiprocessor_count() << " SMs, " << (d.total_memory() >> 20)
                << " MiB, driver CUDA " << d.driver_version());
  CHECK_FALSE(d.name().empty());
  CHECK(d.compute_capability() >= 70);
  CHECK(d.total_memory() > (1u << 30));
  CHECK(d.multiprocessor_count() > 0);
  CHECK(d.driver_version() >= 12000);
  CHECK(device_count() >= 1);
  CHECK_THROWS_WITH(Device(device_count()), Catch::Contains("no CUDA device"));
}

TEST_CASE("gpu: the test kernels use no local memory", "[gpu]") {
  Gpu* g = gpu();
  if (g == nullptr) {
    return;
  }
  INFO(g->compiled.log);
  const auto functions = parse_ptxas_info(g->compiled.log);
  CHECK(functions.size() == 3);
  for (const FunctionResources& f : functions) {
    INFO(f.name);
    CHECK_FALSE(f.uses_local_memory());
  }
}

TEST_CASE("gpu: vector add of an NVRTC-compiled kernel", "[gpu]") {
  Gpu* g = gpu();
  if (g == nullptr) {
    return;
  }
  const int n = (1 << 20) + 3;  // not a multiple of the block size
  std::vector<float> a(n), b(n), c(n, -1.0f);
  for (int i = 0; i < n; ++i) {
    a[i] = static_cast<float>(i) * 0.5f;
    b[i] = 1.0f / static_cast<float>(i + 1);
  }
  DeviceBuffer da(g->device, a.size() * sizeof(float));
  DeviceBuffer db(g->device, b.size() * sizeof(float));
  DeviceBuffer dc(g->device, c.size() * sizeof(float));
  da.upload(bytes_of(a));
  db.upload(bytes_of(b));
  dc.fill_zero();

  launch_with(g->module.function("vector_add"), {.grid = {blocks_for(n, 256)}, .block = {256}}, da.get(), db.get(),
              dc.get(), n);
  g->device.synchronize();
  dc.download(writable_bytes_of(c));
  int wrong = 0;
  for (int i = 0; i < n; ++i) {
    wrong += c[i] != a[i] + b[i];  // IEEE single-precision add on both sides: exact
  }
  CHECK(wrong == 0);
}

TEST_CASE("gpu: a captured graph replays its launches", "[gpu]") {
  Gpu* g = gpu();
  if (g == nullptr) {
    return;
  }
  const int n = 100'000;
  std::vector<float> x(n), y(n, 1.0f);
  for (int i = 0; i < n; ++i) {
    x[i] = static_cast<float>(i % 7);
  }
  DeviceBuffer dx(g->device, n * sizeof(float));
  DeviceBuffer dy(g->device, n * sizeof(float));
  dx.upload(bytes_of(x));
  dy.upload(bytes_of(y));

  Stream stream(g->device);
  const Function axpy = g->module.function("axpy");
  const LaunchConfig config{.grid = {blocks_for(n, 256)}, .block = {256}, .stream = stream.get()};
  const float alpha = 0.5f;
  stream.begin_capture();
  for (int step = 0; step < 3; ++step) {
    launch_with(axpy, config, alpha, dx.get(), dy.get(), n);
  }
  Graph graph = stream.end_capture();

  Event start(g->device);
  Event end(g->device);
  start.record(stream);
  graph.launch(stream);
  graph.launch(stream);
  end.record(stream);
  stream.synchronize();
  const float ms = elapsed_ms(start, end);
  CHECK(ms >= 0.0f);
  WARN("two graph replays of 3 axpy launches: " << ms << " ms");

  dy.download(writable_bytes_of(y));
  int wrong = 0;
  for (int i = 0; i < n; ++i) {
    wrong += y[i] != 1.0f + 6.0f * alpha * x[i];  // small integers and halves: exact
  }
  CHECK(wrong == 0);
}

TEST_CASE("gpu: more than 48 KiB of dynamic shared memory", "[gpu]") {
  Gpu* g = gpu();
  if (g == nullptr) {
    return;
  }
  const unsigned threads = 1024;
  const unsigned per_block = threads * 16;  // 64 KiB of floats
  const unsigned blocks = 4;
  std::vector<float> in(per_block * blocks), out(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    in[i] = static_cast<float>(i);
  }
  DeviceBuffer din(g->device, in.size() * sizeof(float));
  DeviceBuffer dout(g->device, out.size() * sizeof(float));
  din.upload(bytes_of(in));

  const Function reverse = g->module.function("reverse_blocks");
  const unsigned shared = per_block * sizeof(float);
  set_max_dynamic_shared_memory(reverse, static_cast<int>(shared));
  launch_with(reverse, {.grid = {blocks}, .block = {threads}, .shared_bytes = shared}, din.get(), dout.get());
  g->device.synchronize();
  dout.download(writable_bytes_of(out));
  int wrong = 0;
  for (unsigned blk = 0; blk < blocks; ++blk) {
    for (unsigned j = 0; j < per_block; ++j) {
      wrong += out[blk * per_block + j] != in[blk * per_block + per_block - 1 - j];
    }
  }
  CHECK(wrong == 0);
}

TEST_CASE("gpu: driver errors name the call and the CUDA error", "[gpu]") {
  Gpu* g = gpu();
  if (g == nullptr) {
    return;
  }
  CHECK_THROWS_WITH(g->module.function("no_such_kernel"),
                    Catch::StartsWith("cuModuleGetFunction(no_such_kernel): CUDA_ERROR_NOT_FOUND: "));
  CHECK_THROWS_WITH(DeviceBuffer(g->device, std::size_t{1} << 50),
                    Catch::StartsWith("cuMemAlloc(1.0 PiB): CUDA_ERROR_OUT_OF_MEMORY: "));
  DeviceBuffer small(g->device, 16);
  std::vector<float> too_many(5);
  CHECK_THROWS_WITH(small.upload(bytes_of(too_many)), Catch::Contains("overruns"));
  CHECK_THROWS_WITH(launch_with(g->module.function("vector_add"), {.grid = {1}, .block = {2048}}, small.get(),
                                small.get(), small.get(), 4),
                    Catch::StartsWith("cuLaunchKernel(grid 1x1x1, block 2048x1x1, 0 B dynamic shared): CUDA_ERROR_"));
  // The context is still usable after these errors.
  g->device.synchronize();
}
