#include "backends/cuda/cuda_backend.h"

#include <fmt/format.h>

#include <chrono>
#include <deque>
#include <cstdlib>
#include <string_view>
#include <map>
#include <stdexcept>
#include <thread>
#include <utility>

#include "compiler/codegen/cuda/cuda_emitter.h"
#include "runtime/cuda/parallel_compile.h"
#include "runtime/cuda/stream.h"
#include "backends/cuda/device_batches.h"
#include "backends/cuda/device_executor.h"
#ifdef RESNETC_HAVE_NCCL
#include "backends/cuda/nccl_reducer.h"
#endif

namespace resnetc::cuda_backend {
namespace {

// RESNETC_CUDA_GRAPHS=0 turns the step's CUDA graph off (every launch made one by one).
bool graphs_enabled() {
  const char* setting = std::getenv("RESNETC_CUDA_GRAPHS");
  return setting == nullptr || std::string_view(setting) != "0";
}

class CudaExecutor : public DeviceExecutor {
 public:
  // `units[i]` compiled is `cubins[i]`.
  CudaExecutor(const cuda::Device& device, const cuda::CacheOptions& cache, const plan::KernelPlan& plan,
               const codegen::cuda::CudaProgram& program, const std::vector<codegen::cuda::CudaUnit>& units,
               const std::vector<cuda::CompileResult>& cubins)
      : device_(device), cache_(cache), plan_(plan), stream_(device) {
    std::map<std::string, size_t> module_of;  // kernel name -> index into modules_
    for (size_t i = 0; i < units.size(); ++i) {
      modules_.emplace_back(device, cubins[i].cubin);
      for (const std::string& name : units[i].kernels) module_of[name] = i;
    }
    try {
      for (int s = 0; s < 3; ++s)
        storage_[s] = cuda::DeviceBuffer(device, static_cast<size_t>(std::max<int64_t>(plan.storage_bytes[s], 64)));
      if (program.workspace_bytes > 0)
        workspace_ = cuda::DeviceBuffer(device, static_cast<size_t>(program.workspace_bytes));
    } catch (const cuda::CudaError& e) {
      const auto mib = [](int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); };
      throw cuda::CudaError(fmt::format(
          "plan '{}' needs {:.1f} MiB of GPU memory (parameters and optimizer state {:.1f}, inputs {:.1f}, "
          "activations and gradients {:.1f}, scratch {:.1f}) and {} could not provide it: {}. A smaller --batch needs "
          "less",
          plan.name, mib(planned_peak_bytes(plan) + program.workspace_bytes), mib(plan.bytes(plan::Storage::Persistent)),
          mib(plan.bytes(plan::Storage::Input)), mib(plan.bytes(plan::Storage::Arena)), mib(program.workspace_bytes),
          device.name(), e.what()));
    }
    for (auto& s : storage_) s.fill_zero();
    for (const codegen::cuda::CudaLaunch& l : program.launches) {
      if (l.zero_output_first)
        throw std::logic_error(fmt::format("launch {} asks for a zeroed output, which this executor does not do", l.kernel));
      Launch run{modules_[module_of.at(l.kernel)].function(l.kernel),
                 {{l.grid[0], l.grid[1], l.grid[2]}, {l.block[0], l.block[1], l.block[2]}, l.shared_bytes,
                  stream_.get()},
                 static_cast<size_t>(l.plan_kernel), {}, {}};
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
    if (b.storage == plan::Storage::Persistent) weights_changed_ = true;
  }
  void read(int buffer, std::span<std::byte> bytes) override {
    const plan::Buffer& b = checked(buffer, bytes.size());
    storage_[static_cast<int>(b.storage)].download(bytes, static_cast<size_t>(b.offset));  // waits for the kernels
  }
  // The step's launches are recorded once as a CUDA graph and replayed (one launch call per
  // step instead of one per kernel); RESNETC_CUDA_GRAPHS=0 launches them one by one. The
  // preamble (folded weights) runs before it, only after the weights changed. Returns when the
  // step is done: the stream does not synchronise with the default stream that write() and
  // read() copy on, and the trainer reads the loss after every step anyway.
  // A kernel's fault (an illegal address) is reported by a later call that cannot name it: the
  // synchronisation, or the launch of a later kernel; so failures name the plan, and say how to
  // make the faulting kernel's own launch report it.
  void run() override {
    reporting_faults([&] {
      run_preamble();
      run_step_kernels(0, plan_.kernels.size());
      stream_.synchronize();
    });
  }
  // The kernels before `at` and those from `at` on are two graphs (or two runs of launches).
  // `between` runs once the first are done, as on the CPU: it may read and write buffers (which
  // copy on the default stream, not ordered with this one), or enqueue work on this stream (the
  // gradients' all-reduce by NCCL), which the second graph then follows.
  void run_pausing_at(size_t at, const std::function<void()>& between) override {
    reporting_faults([&] {
      run_preamble();
      run_step_kernels(0, at);
      stream_.synchronize();
      between();
      run_step_kernels(at, plan_.kernels.size());
      stream_.synchronize();
    });
  }
  void run_enqueuing_at(std::span<const size_t> stops, const std::function<void(size_t)>& at_stop,
                        const std::function<void()>& finish) override {
    for (size_t i = 0; i < stops.size(); ++i)
      if (stops[i] > plan_.kernels.size() || (i > 0 && stops[i] < stops[i - 1]))
        throw std::logic_error(fmt::format("stop {} of plan '{}' is out of order or past its {} kernels", stops[i],
                                           plan_.name, plan_.kernels.size()));
    reporting_faults([&] {
      run_preamble();
      size_t enqueued = 0;
      for (size_t i = 0; i < stops.size(); ++i) {
        run_step_kernels(enqueued, stops[i]);
        enqueued = stops[i];
        at_stop(i);
      }
      run_step_kernels(enqueued, plan_.kernels.size());
      finish();
      stream_.synchronize();
    });
  }
  const plan::KernelPlan& plan() const override { return plan_; }
  const cuda::Stream& stream() const override { return stream_; }
  cuda::DevicePtr device_address(int buffer) const override { return address(buffer); }

  // Runs `step`, naming the plan and device in a CUDA failure.
  template <class Step>
  void reporting_faults(Step&& step) {
    try {
      step();
    } catch (const cuda::CudaError& e) {
      const char* blocking = std::getenv("CUDA_LAUNCH_BLOCKING");
      const bool named = !use_graph_ && blocking != nullptr && std::string_view(blocking) == "1";
      throw cuda::CudaError(fmt::format("running plan '{}' on {} failed: {}{}", plan_.name, device_.name(), e.what(),
                                        named ? "" : ". To name the kernel that faulted, run with "
                                                     "RESNETC_CUDA_GRAPHS=0 CUDA_LAUNCH_BLOCKING=1"));
    }
  }
  // Launch by launch, without the graph, each between two events on the stream.
  void run_timed(std::span<double> seconds) override {
    std::vector<Launch*> launches;
    for (bool preamble : {true, false})
      for (Launch& l : launches_)
        if (in_preamble(l) == preamble && (!preamble || weights_changed_)) launches.push_back(&l);
    weights_changed_ = false;
    std::deque<cuda::Event> events;
    events.emplace_back(device_).record(stream_);
    for (Launch* l : launches) {
      cuda::launch(l->function, l->config, l->params);
      events.emplace_back(device_).record(stream_);
    }
    for (size_t i = 0; i < launches.size(); ++i)
      seconds[launches[i]->plan_kernel] += cuda::elapsed_ms(events[i], events[i + 1]) / 1e3;
  }
  std::unique_ptr<train::BatchSource> batch_source(const data::Split& split, const data::Normalization& normalization,
                                                   const data::ImageTransform& transform) override {
    const plan::Buffer& input = plan_.buffer(plan_.input);
    return make_device_batches(device_, cache_, split, normalization, transform,
                               {address(plan_.input), plan_.labels >= 0 ? address(plan_.labels) : 0, input.shape[0],
                                input.shape[2], input.shape[3], stream_.get()});
  }

 private:
  struct Launch {
    cuda::Function function;
    cuda::LaunchConfig config;
    size_t plan_kernel = 0;  // its index in the plan
    std::vector<cuda::DevicePtr> args;
    std::vector<void*> params;
  };

  bool in_preamble(const Launch& l) const { return l.plan_kernel < plan_.preamble_kernels; }

  void run_preamble() {
    if (weights_changed_) launch(true, 0, plan_.kernels.size());
    weights_changed_ = false;
  }

  // The step's launches of plan kernels first .. end - 1, from their graph (recorded on first use).
  void run_step_kernels(size_t first, size_t end) {
    if (first >= end) return;  // between two stops at one kernel
    if (!use_graph_) return launch(false, first, end);
    auto graph = graphs_.find({first, end});
    if (graph == graphs_.end()) {
      stream_.begin_capture();
      try {
        launch(false, first, end);
      } catch (...) {
        stream_.abandon_capture();
        throw;
      }
      graph = graphs_.emplace(std::pair{first, end}, stream_.end_capture()).first;
    }
    graph->second.launch(stream_);
  }

  // The preamble's launches, or the step's, of plan kernels first .. end - 1.
  void launch(bool preamble, size_t first, size_t end) {
    for (Launch& l : launches_) {
      if (in_preamble(l) != preamble || l.plan_kernel < first || l.plan_kernel >= end) continue;
      try {
        cuda::launch(l.function, l.config, l.params);
      } catch (const cuda::CudaError& e) {
        throw cuda::CudaError(
            fmt::format("launching the kernel of '{}' failed: {}", plan_.kernels[l.plan_kernel].name, e.what()));
      }
    }
  }

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

  const cuda::Device& device_;  // the backend's, which outlives its executors
  cuda::CacheOptions cache_;
  const plan::KernelPlan& plan_;
  cuda::Stream stream_;
  bool use_graph_ = graphs_enabled();
  std::map<std::pair<size_t, size_t>, cuda::Graph> graphs_;  // by the plan kernels they launch
  bool weights_changed_ = true;
  std::vector<cuda::Module> modules_;
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

std::unique_ptr<train::DeviceReducer> CudaBackend::device_reducer(
    int rank, int size, const std::function<void(std::span<std::byte>)>& broadcast) {
#ifdef RESNETC_HAVE_NCCL
  device_.make_current();  // NCCL takes the current device as the rank's
  return make_nccl_reducer(device_, cache_, rank, size, broadcast);
#else
  (void)rank, (void)size, (void)broadcast;
  return nullptr;
#endif
}

std::unique_ptr<train::PlanExecutor> CudaBackend::compile(const plan::KernelPlan& plan) {
  const codegen::cuda::CudaProgram program =
      codegen::cuda::emit_cuda(plan, codegen::cuda::options_for_precision(plan.precision));
  // One translation unit per hardware thread, compiled concurrently (each cached on its own).
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  const std::vector<codegen::cuda::CudaUnit> units = codegen::cuda::split_units(program, threads);
  std::vector<cuda::CompileRequest> requests;
  for (size_t i = 0; i < units.size(); ++i) {
    cuda::CompileRequest request;
    request.name = fmt::format("{}.{}.cu", plan.name, i);
    request.source = units[i].source;
    request.arch = device_.arch();
    requests.push_back(std::move(request));
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<cuda::CompileStats> stats;
  const std::vector<cuda::CompileResult> compiled = cuda::compile_all_cached(requests, cache_, &stats, threads);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  bool all_cached = true;
  for (const cuda::CompileStats& s : stats) all_cached = all_cached && s.cache_hit;
  last_ = {ms, all_cached, program.unique_kernels};
  return std::make_unique<CudaExecutor>(device_, cache_, plan, program, units, compiled);
}

}  // namespace resnetc::cuda_backend
