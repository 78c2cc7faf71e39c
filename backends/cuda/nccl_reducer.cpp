#include "backends/cuda/nccl_reducer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "backends/cuda/device_executor.h"
#include "backends/cuda/sync_bn_kernels.h"
#include "runtime/cuda/compile_cache.h"
#include "runtime/cuda/stream.h"
#include "runtime/nccl/communicator.h"

namespace resnetc::cuda_backend {
namespace {

// The step's kernels run on the executor's stream; the gradient sums on `sums_`. At a bucket's
// stop an event marks the executor's stream and `sums_` waits for it before the bucket's
// all-reduce, so the sum starts once the bucket's last gradient kernel is done while the
// backward's next kernels run beside it. At the first update the executor's stream waits in turn
// for everything queued on `sums_`. BatchNorm's collectives (--sync-bn) are read by the very next
// kernels, so they run on the executor's stream itself: a kernel makes the rank's part in double,
// NCCL sums it, a kernel writes the rows back (sync_bn_kernels.h). NCCL runs one communicator's
// operations in the order they were issued, on every rank the plan's. The host waits once, at the
// end of the step, polling NCCL's errors.
class NcclReducer : public train::DeviceReducer {
 public:
  NcclReducer(const cuda::Device& device, const cuda::CacheOptions& cache, int rank, int size,
              const std::function<void(std::span<std::byte>)>& broadcast)
      : device_(device),
        cache_(cache),
        sums_(device),
        bucket_done_(device, false),
        sums_done_(device, false),
        comm_(rank, size, broadcast, nccl::timeout_from_environment()) {}

  void run_step(train::PlanExecutor& executor, std::span<const plan::Collective> collectives, size_t first_update,
                double share) override {
    auto* device = dynamic_cast<DeviceExecutor*>(&executor);
    if (device == nullptr)
      throw std::logic_error("an NCCL reducer was given an executor that is not the CUDA backend's");
    std::vector<size_t> stops;
    size_t batchnorm_doubles = 0;
    for (const plan::Collective& c : collectives) {
      stops.push_back(c.at);
      if (c.kind != plan::CollectiveKind::Gradients)
        batchnorm_doubles = std::max(batchnorm_doubles, static_cast<size_t>(c.floats));
    }
    stops.push_back(first_update);
    if (batchnorm_doubles > 0) prepare_batchnorm(batchnorm_doubles);
    const cuda::Stream& compute = device->stream();
    const float weight = static_cast<float>(share);
    device->run_enqueuing_at(
        stops,
        [&](size_t i) {
          if (i == collectives.size()) {
            sums_done_.record(sums_);
            compute.wait(sums_done_);
            for (const plan::Collective& c : collectives)
              if (c.kind == plan::CollectiveKind::BatchNormForward) unbias_with_all(*device, c, share);
          } else if (collectives[i].kind == plan::CollectiveKind::Gradients) {
            // One event serves every bucket: a wait takes the event's latest record, this one.
            bucket_done_.record(compute);
            sums_.wait(bucket_done_);
            comm_.start_sum(spans(*device, collectives[i].buffers), weight, sums_);
          } else {
            sum_batchnorm(*device, collectives[i], share);
          }
        },
        [&] { comm_.wait(compute); });
  }

 private:
  // Buffers that lie back to back in device memory are summed by one call.
  static std::vector<nccl::DeviceFloats> spans(const DeviceExecutor& device, std::span<const int> buffers) {
    const plan::KernelPlan& plan = device.plan();
    std::vector<int> sorted(buffers.begin(), buffers.end());
    std::sort(sorted.begin(), sorted.end(),
              [&](int a, int b) { return device.device_address(a) < device.device_address(b); });
    std::vector<nccl::DeviceFloats> spans;
    for (int b : sorted) {
      const cuda::DevicePtr at = device.device_address(b);
      const size_t count = static_cast<size_t>(ir::numel(plan.buffer(b).shape));
      if (!spans.empty() && spans.back().data + spans.back().count * sizeof(float) == at)
        spans.back().count += count;
      else
        spans.push_back({at, count});
    }
    return spans;
  }

  // The kernels, compiled on first use (a plan without --sync-bn never needs them), and room for
  // the largest BatchNorm's [2, C] doubles: one buffer serves all, as they follow one another on
  // one stream. Called before the step enqueues anything, so nothing in flight uses the old buffer.
  void prepare_batchnorm(size_t doubles) {
    if (!module_) {
      cuda::CompileRequest request;
      request.name = "sync_bn.cu";
      request.source = codegen::cuda::sync_bn_kernels_source();
      request.arch = device_.arch();
      module_ = std::make_unique<cuda::Module>(device_, cuda::compile_cached(request, cache_).cubin);
      contribution_ = module_->function("rc_sync_bn_contribution");
      rows_ = module_->function("rc_sync_bn_rows");
      unbias_ = module_->function("rc_sync_bn_unbias");
    }
    if (scratch_.size() < doubles * sizeof(double)) scratch_ = cuda::DeviceBuffer(device_, doubles * sizeof(double));
  }

  cuda::LaunchConfig per_channel(const DeviceExecutor& device, int channels) const {
    const auto blocks = static_cast<unsigned>((channels + static_cast<int>(codegen::cuda::kSyncBnThreads) - 1) /
                                              static_cast<int>(codegen::cuda::kSyncBnThreads));
    return {{blocks, 1, 1}, {codegen::cuda::kSyncBnThreads, 1, 1}, 0, device.stream().get()};
  }

  // One BatchNorm's [2, C] rows made the whole batch's, on the executor's stream.
  void sum_batchnorm(const DeviceExecutor& device, const plan::Collective& c, double share) {
    cuda::DevicePtr rows = device.device_address(c.buffers.at(0)), sums = scratch_.get();
    int channels = static_cast<int>(c.floats / 2), forward = c.kind == plan::CollectiveKind::BatchNormForward;
    const cuda::LaunchConfig config = per_channel(device, channels);
    cuda::launch_with(contribution_, config, sums, rows, channels, share, forward);
    comm_.start_sum_doubles(sums, static_cast<size_t>(c.floats), device.stream());
    cuda::launch_with(rows_, config, rows, sums, channels, forward);
  }

  // As the host's (train/distributed.cpp): the running variance's update unbiases the synced
  // variance with the whole batch's count n, not the rank's m.
  void unbias_with_all(const DeviceExecutor& device, const plan::Collective& c, double share) {
    const int channels = static_cast<int>(c.floats / 2);
    const auto mine =
        static_cast<double>(ir::numel(device.plan().buffer(c.statistics_of).shape) / static_cast<int64_t>(channels));
    if (share <= 0 || mine < 2) return;  // an empty share contributes nothing; no unbiased variance of one value
    const double all = std::round(mine / share);
    const double scale = (all / (all - 1)) / (mine / (mine - 1));
    cuda::launch_with(unbias_, per_channel(device, channels), device.device_address(c.buffers.at(0)), channels, scale);
  }

  const cuda::Device& device_;
  cuda::CacheOptions cache_;
  // Destroyed in reverse: the communicator (destroyed or aborted) before the stream it used.
  cuda::Stream sums_;
  cuda::Event bucket_done_, sums_done_;
  std::unique_ptr<cuda::Module> module_;
  cuda::Function contribution_{}, rows_{}, unbias_{};
  cuda::DeviceBuffer scratch_;
  nccl::Communicator comm_;
};

}  // namespace

std::unique_ptr<train::DeviceReducer> make_nccl_reducer(const cuda::Device& device, const cuda::CacheOptions& cache,
                                                        int rank, int size,
                                                        const std::function<void(std::span<std::byte>)>& broadcast) {
  return std::make_unique<NcclReducer>(device, cache, rank, size, broadcast);
}

}  // namespace resnetc::cuda_backend
