#include "tests/cuda_codegen/emulated_plan.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>

#include "compiler/reference/executor.h"
#include "tests/batchnorm_draw.h"
#include "tests/label_classes.h"

namespace resnetc::testing {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

uint64_t fnv1a(std::string_view text, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

// -O0: compiling a test program takes about 4 times less than at -O1 (22 s against 6 s for the
// largest conformance group), more than the kernels then lose running under emulation.
constexpr const char* kFlags =
    "-std=c++17 -O0 -fPIC -shared -fvisibility=hidden -fvisibility-inlines-hidden -fno-strict-aliasing -w";

// Runs a shell command; returns its exit status and output.
int run(const std::string& command, std::string& output) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run: " + command);
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  return pclose(pipe);
}

using LaunchFn = int (*)(void (*)(void* const*), const unsigned*, const unsigned*, void* const*, char*, unsigned long);

}  // namespace

EmulatedModule::EmulatedModule(const std::string& source) {
  const fs::path header = RESNETC_EMULATION_HEADER;
  const fs::path cache = RESNETC_EMULATION_CACHE;
  const std::string cxx = RESNETC_HOST_CXX;
  const uint64_t key = fnv1a(source, fnv1a(read_file(header), fnv1a(std::string(kFlags) + cxx)));
  fs::create_directories(cache);
  const fs::path so = cache / fmt::format("kernels-{:016x}.so", key);
  const auto start = std::chrono::steady_clock::now();
  if (!fs::exists(so)) {
    const fs::path src = cache / fmt::format("kernels-{:016x}.cu", key);
    const fs::path tmp = cache / fmt::format("kernels-{:016x}.{}.so", key, getpid());
    {
      std::ofstream out(src, std::ios::binary);
      out << source;
    }
    std::string output;
    const std::string command = fmt::format("\"{}\" {} -include \"{}\" -x c++ \"{}\" -o \"{}\"", cxx, kFlags,
                                            header.string(), src.string(), tmp.string());
    if (run(command, output) != 0)
      throw std::runtime_error(
          fmt::format("compiling the generated source under emulation failed:\n{}\n{}", command, output));
    fs::rename(tmp, so);
  }
  compile_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  handle_ = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle_) throw std::runtime_error(fmt::format("dlopen {}: {}", so.string(), dlerror()));
  launcher_ = dlsym(handle_, "resnetc_emu_launch");
  if (!launcher_) throw std::runtime_error("the emulated module has no resnetc_emu_launch");
}

EmulatedModule::~EmulatedModule() {
  if (handle_) dlclose(handle_);
}

void EmulatedModule::launch(const std::string& name, const unsigned grid[3], const unsigned block[3],
                            void* const* args) const {
  void* fn = dlsym(handle_, (name + "__emu").c_str());
  if (!fn) throw std::runtime_error("the emulated module has no kernel " + name);
  char error[1024] = {};
  auto launcher = reinterpret_cast<LaunchFn>(launcher_);
  if (launcher(reinterpret_cast<void (*)(void* const*)>(fn), grid, block, args, error, sizeof error) != 0)
    throw std::runtime_error(fmt::format("kernel {}: {}", name, error));
}

GuardedBuffer::GuardedBuffer(int64_t bytes) : bytes_(bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t rounded = static_cast<size_t>(std::max<int64_t>((bytes + 63) / 64 * 64, 64));
  const size_t pages = (rounded + page - 1) / page;
  map_bytes_ = (pages + 2) * page;
  void* p = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  map_ = static_cast<char*>(p);
  mprotect(map_, page, PROT_NONE);
  mprotect(map_ + (pages + 1) * page, page, PROT_NONE);
  data_ = map_ + (pages + 1) * page - rounded;
  slack_ = static_cast<int64_t>(rounded) - bytes;
  std::fill(data_ + bytes, data_ + rounded, static_cast<char>(0xa5));
}

GuardedBuffer::~GuardedBuffer() {
  if (map_) munmap(map_, map_bytes_);
}

bool GuardedBuffer::canary_intact() const {
  return std::all_of(data_ + bytes_, data_ + bytes_ + slack_, [](char c) { return c == static_cast<char>(0xa5); });
}

std::string EmulationResult::describe() const {
  std::string out = fmt::format(
      "{} launches of {} kernels, compiled in {:.2f} s, ran in {:.2f} s, largest error {:.3g} ({}): ", launches,
      unique_kernels, compile_seconds, run_seconds, worst_error, worst_value);
  if (mismatches.empty()) return out + "all values match";
  for (const EmulationMismatch& m : mismatches) out += fmt::format("{}: relative error {:.3g}; ", m.value, m.error);
  return out;
}

EmulatedPlan::EmulatedPlan(plan::KernelPlan plan, const codegen::cuda::CudaOptions& options)
    : plan_(std::move(plan)),
      program_(codegen::cuda::emit_cuda(plan_, options)),
      module_(program_.source),
      workspace_(std::max<int64_t>(program_.workspace_bytes, 4)) {
  for (const plan::Buffer& b : plan_.buffers) memory_.push_back(std::make_unique<GuardedBuffer>(b.bytes));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (size_t i = 0; i < plan_.buffers.size(); ++i) {
    const plan::Buffer& b = plan_.buffers[i];
    if (b.view_of >= 0 || b.storage != plan::Storage::Arena) continue;
    if (b.dtype == ir::DType::BF16)
      std::fill_n(static_cast<uint16_t*>(memory_[i]->data()), ir::numel(b.shape), uint16_t{0x7fc0});
    else
      std::fill_n(static_cast<float*>(memory_[i]->data()), ir::numel(b.shape), nan);
  }
  std::fill_n(static_cast<float*>(workspace_.data()), workspace_.bytes() / 4, nan);
}

char* EmulatedPlan::address(int i) const {
  const plan::Buffer& b = plan_.buffer(i);
  if (b.view_of < 0) return static_cast<char*>(memory_[static_cast<size_t>(i)]->data());
  return address(b.view_of) + (b.offset - plan_.buffer(b.view_of).offset);
}

std::span<float> EmulatedPlan::floats(int i) const {
  if (plan_.buffer(i).dtype == ir::DType::BF16)
    throw std::logic_error(fmt::format("buffer '{}' holds bf16 bits, not floats", plan_.buffer(i).name));
  return {reinterpret_cast<float*>(address(i)), static_cast<size_t>(ir::numel(plan_.buffer(i).shape))};
}

std::vector<float> EmulatedPlan::values(int i) const {
  const size_t n = static_cast<size_t>(ir::numel(plan_.buffer(i).shape));
  std::vector<float> out(n);
  if (plan_.buffer(i).dtype != ir::DType::BF16) {
    std::memcpy(out.data(), address(i), n * 4);
    return out;
  }
  const auto* bits = reinterpret_cast<const uint16_t*>(address(i));
  for (size_t j = 0; j < n; ++j) out[j] = std::bit_cast<float>(uint32_t{bits[j]} << 16);
  return out;
}

void EmulatedPlan::launch(const codegen::cuda::CudaLaunch& l) const {
  std::vector<void*> args;
  for (int b : l.buffers)
    args.push_back(b == codegen::cuda::kWorkspace ? workspace_.data() : static_cast<void*>(address(b)));
  if (l.zero_output_first) {
    const int out = plan_.kernels[static_cast<size_t>(l.plan_kernel)].output;
    std::fill_n(address(out), plan_.buffer(out).bytes, 0);
  }
  try {
    module_.launch(l.kernel, l.grid, l.block, args.data());
  } catch (const std::exception& e) {
    throw std::runtime_error(
        fmt::format("{} (plan kernel '{}')", e.what(), plan_.kernels[static_cast<size_t>(l.plan_kernel)].name));
  }
}

void EmulatedPlan::run() const {
  for (const codegen::cuda::CudaLaunch& l : program_.launches) launch(l);
}

void EmulatedPlan::run_kernel(int kernel) const {
  for (const codegen::cuda::CudaLaunch& l : program_.launches)
    if (l.plan_kernel == kernel) launch(l);
}

EmulationResult compare_emulated(const ir::Graph& graph, const EmulationOptions& options) {
  // Every buffer its own guarded allocation (a view is an address inside its source's), so an
  // out-of-bounds access hits a canary instead of a neighbour.
  const EmulatedPlan emulated(plan::make_plan(graph, {.reuse_memory = false, .precision = options.precision}), options.cuda);
  const plan::KernelPlan& plan = emulated.plan();
  EmulationResult result;
  result.launches = emulated.program().launches.size();
  result.unique_kernels = emulated.program().unique_kernels;
  result.compile_seconds = emulated.compile_seconds();
  reference::Executor reference(graph);

  std::mt19937 rng(options.seed);
  std::uniform_real_distribution<float> uniform(-options.input_scale, options.input_scale);
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const plan::Buffer& b = plan.buffers[i];
    const size_t n = static_cast<size_t>(ir::numel(b.shape));
    if (b.view_of >= 0 || b.storage == plan::Storage::Arena) continue;  // its source's memory; NaN
    std::vector<double> values(n);
    if (b.dtype == ir::DType::I32) {
      const int64_t classes = label_classes(graph, b.value);
      auto* data = reinterpret_cast<int32_t*>(emulated.address(static_cast<int>(i)));
      for (size_t j = 0; j < n; ++j) {
        data[j] = static_cast<int32_t>(rng() % static_cast<unsigned>(classes));
        values[j] = data[j];
      }
    } else {
      const bool positive = options.positive_inputs || b.name.ends_with("running_var") || b.value == graph.learning_rate;
      const BatchnormAffine affine = options.batchnorm_near_identity ? batchnorm_affine(graph, b.value) : BatchnormAffine::No;
      const std::span<float> data = emulated.floats(static_cast<int>(i));
      for (size_t j = 0; j < n; ++j) {
        float v = uniform(rng);
        if (affine != BatchnormAffine::No) v = batchnorm_affine_value(affine, v / options.input_scale);
        if (options.quantize_inputs) v = std::round(v * 4.0f) / 4.0f;
        if (positive) v = std::abs(v) + 0.1f;
        data[j] = v;
        values[j] = v;
      }
    }
    reference.set(b.value, std::move(values));
  }

  const auto start = std::chrono::steady_clock::now();
  emulated.run();
  result.run_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  reference.run();

  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const plan::Buffer& b = plan.buffers[i];
    if (!emulated.canary_intact(static_cast<int>(i))) result.mismatches.push_back({b.name + " (written past its end)", INFINITY});
    if (b.storage == plan::Storage::Input) continue;
    const std::vector<double>& want = reference.get(b.value);
    const std::vector<float> got = emulated.values(static_cast<int>(i));
    double scale = 1e-6, worst = 0;
    for (double w : want) scale = std::max(scale, std::abs(w));
    for (size_t j = 0; j < want.size(); ++j) {
      double e = std::abs(static_cast<double>(got[j]) - want[j]) / scale;
      if (!std::isfinite(got[j])) e = INFINITY;
      worst = std::max(worst, e);
    }
    if (!(worst <= options.tolerance)) result.mismatches.push_back({b.name, worst});
    if (!(worst <= result.worst_error)) {
      result.worst_error = worst;
      result.worst_value = b.name;
    }
  }
  if (!emulated.workspace_intact()) result.mismatches.push_back({"workspace (written past its end)", INFINITY});
  return result;
}

}  // namespace resnetc::testing
