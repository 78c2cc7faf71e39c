#include "runtime/cuda_backend/cuda_backend.h"

#include <fmt/format.h>

#include <stdexcept>

#include "compiler/codegen/cuda/cuda_emitter.h"

namespace resnetc::cuda_backend {
namespace {

class CudaExecutor : public train::PlanExecutor {
 public:
  CudaExecutor(const cuda::Device& device, const plan::KernelPlan& plan, const codegen::cuda::CudaProgram& program,
               std::span<const std::byte> cubin)
      : plan_(plan), module_(device, cubin) {
    for (int s = 0; s < 3; ++s)
      storage_[s] = cuda::DeviceBuffer(device, static_cast<size_t>(std::max<int64_t>(plan.storage_bytes[s], 64)));
    for (auto& s : storage_) s.fill_zero();
    if (program.workspace_bytes > 0) workspace_ = cuda::DeviceBuffer(device, static_cast<size_t>(program.workspace_bytes));
    for (const codegen::cuda::CudaLaunch& l : program.launches) {
      if (l.zero_output_first)
        throw std::logic_error(fmt::format("launch {} asks for a zeroed output, which this executor does not do", l.kernel));
      Launch run{module_.function(l.kernel), {{l.grid[0], l.grid[1], l.grid[2]}, {l.block[0], l.block[1], l.block[2]},
                                              l.shared_bytes, nullptr}, {}, {}};
      if (l.shared_bytes > 48 * 1024) cuda::set_max_dynamic_shared_memory(run.function, static_cast<int>(l.shared_bytes));
      for (int b : l.buffers) run.args.push_back(b == codegen::cuda::kWorkspace ? workspace_.get() : address(b));
      launches_.push_back(std::move(run));
    }
    for (Launch& l : launches_)
      for (cuda::DevicePtr& a : l.args) l.params.push_back(&a);  // stable now: launches_ no longer grows
  }

  void write(int buffer, std::span<const std::byte> bytes) override {
    const plan::Buffer& b = checked(buffer, bytes.size());
    storage_[static_cast<int>(b.storage)].upload(bytes, static_cast<size_t>(b.offset));
  }
  void read(int buffer, std::span<std::byte> bytes) override {
    const plan::Buffer& b = checked(buffer, bytes.size());
    storage_[static_cast<int>(b.storage)].download(bytes, static_cast<size_t>(b.offset));  // waits for the kernels
  }
  void run() override {
    for (Launch& l : launches_) cuda::launch(l.function, l.config, l.params);
  }

 private:
  struct Launch {
    cuda::Function function;
    cuda::LaunchConfig config;
    std::vector<cuda::DevicePtr> args;
    std::vector<void*> params;
  };

  cuda::DevicePtr address(int buffer) const {
    const plan::Buffer& b = plan_.buffer(buffer);
    return storage_[static_cast<int>(b.storage)].get() + static_cast<cuda::DevicePtr>(b.offset);
  }
  const plan::Buffer& checked(int buffer, size_t bytes) const {
    const plan::Buffer& b = plan_.buffer(buffer);
    if (static_cast<int64_t>(bytes) != b.bytes)
      throw std::logic_error(fmt::format("buffer '{}' holds {} bytes, not {}", b.name, b.bytes, bytes));
    return b;
  }

  const plan::KernelPlan& plan_;
  cuda::Module module_;
  cuda::DeviceBuffer storage_[3];
  cuda::DeviceBuffer workspace_;
  std::vector<Launch> launches_;
};

}  // namespace

CudaBackend::CudaBackend(int device_index, cuda::CacheOptions cache) : device_(device_index), cache_(std::move(cache)) {
  if (device_.compute_capability() < 80)
    throw cuda::CudaError(fmt::format("{} has compute capability {}.{}; resnetc's CUDA kernels need 8.0 or newer",
                                      device_.name(), device_.compute_capability() / 10,
                                      device_.compute_capability() % 10));
}

std::string CudaBackend::device_name() const { return fmt::format("cuda:{} ({})", device_.index(), device_.name()); }

std::unique_ptr<train::PlanExecutor> CudaBackend::compile(const plan::KernelPlan& plan) {
  codegen::cuda::CudaProgram program = codegen::cuda::emit_cuda(plan);
  cuda::CompileRequest request;
  request.name = plan.name + ".cu";
  request.source = program.source;
  request.arch = device_.arch();
  cuda::CompileStats stats;
  cuda::CompileResult compiled = cuda::compile_cached(request, cache_, &stats);
  last_ = {stats.milliseconds, stats.cache_hit, program.unique_kernels};
  return std::make_unique<CudaExecutor>(device_, plan, program, compiled.cubin);
}

}  // namespace resnetc::cuda_backend
