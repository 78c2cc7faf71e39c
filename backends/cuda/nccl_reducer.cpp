#include "backends/cuda/nccl_reducer.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "backends/cuda/device_executor.h"
#include "runtime/cuda/stream.h"
#include "runtime/nccl/communicator.h"

namespace resnetc::cuda_backend {
namespace {

// The step's kernels run on the executor's stream; the sums on `sums_`. At a bucket's stop an
// event marks the executor's stream and `sums_` waits for it before the bucket's all-reduce, so
// the sum starts once the bucket's last gradient kernel is done while the backward's next kernels
// run beside it. At the first update the executor's stream waits in turn for everything queued on
// `sums_`. The host waits once, at the end of the step, polling NCCL's errors.
class NcclReducer : public train::DeviceReducer {
 public:
  NcclReducer(const cuda::Device& device, int rank, int size,
              const std::function<void(std::span<std::byte>)>& broadcast)
      : sums_(device),
        bucket_done_(device, false),
        sums_done_(device, false),
        comm_(rank, size, broadcast, nccl::timeout_from_environment()) {}

  void run_step(train::PlanExecutor& executor, std::span<const plan::Collective> buckets, size_t first_update,
                float weight) override {
    auto* device = dynamic_cast<DeviceExecutor*>(&executor);
    if (device == nullptr)
      throw std::logic_error("an NCCL reducer was given an executor that is not the CUDA backend's");
    std::vector<size_t> stops;
    for (const plan::Collective& c : buckets) {
      if (c.kind != plan::CollectiveKind::Gradients)
        throw std::logic_error("the NCCL reducer sums gradient buckets only (--sync-bn runs on the CPU)");
      stops.push_back(c.at);
    }
    stops.push_back(first_update);
    const cuda::Stream& compute = device->stream();
    device->run_enqueuing_at(
        stops,
        [&](size_t i) {
          if (i < buckets.size()) {
            // One event serves every bucket: a wait takes the event's latest record, this one.
            bucket_done_.record(compute);
            sums_.wait(bucket_done_);
            comm_.start_sum(spans(*device, buckets[i].buffers), weight, sums_);
          } else {
            sums_done_.record(sums_);
            compute.wait(sums_done_);
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

  // Destroyed in reverse: the communicator (destroyed or aborted) before the stream it used.
  cuda::Stream sums_;
  cuda::Event bucket_done_, sums_done_;
  nccl::Communicator comm_;
};

}  // namespace

std::unique_ptr<train::DeviceReducer> make_nccl_reducer(const cuda::Device& device, int rank, int size,
                                                        const std::function<void(std::span<std::byte>)>& broadcast) {
  return std::make_unique<NcclReducer>(device, rank, size, broadcast);
}

}  // namespace resnetc::cuda_backend
