#include "backends/cuda/nccl_reducer.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "backends/cuda/device_executor.h"
#include "runtime/nccl/communicator.h"

namespace resnetc::cuda_backend {
namespace {

class NcclReducer : public train::DeviceReducer {
 public:
  NcclReducer(int rank, int size, const std::function<void(std::span<std::byte>)>& broadcast)
      : comm_(rank, size, broadcast, nccl::timeout_from_environment()) {}

  void sum_scaled(train::PlanExecutor& executor, std::span<const int> buffers, float weight) override {
    auto* device = dynamic_cast<DeviceExecutor*>(&executor);
    if (device == nullptr)
      throw std::logic_error("an NCCL reducer was given an executor that is not the CUDA backend's");
    const plan::KernelPlan& plan = device->plan();
    // Buffers that lie back to back in device memory are summed by one call.
    std::vector<nccl::DeviceFloats> spans;
    std::vector<int> sorted(buffers.begin(), buffers.end());
    std::sort(sorted.begin(), sorted.end(), [&](int a, int b) {
      return device->device_address(a) < device->device_address(b);
    });
    for (int b : sorted) {
      const cuda::DevicePtr at = device->device_address(b);
      const size_t count = static_cast<size_t>(ir::numel(plan.buffer(b).shape));
      if (!spans.empty() && spans.back().data + spans.back().count * sizeof(float) == at)
        spans.back().count += count;
      else
        spans.push_back({at, count});
    }
    comm_.sum_scaled(spans, weight, device->stream());
  }

 private:
  nccl::Communicator comm_;
};

}  // namespace

std::unique_ptr<train::DeviceReducer> make_nccl_reducer(int rank, int size,
                                                        const std::function<void(std::span<std::byte>)>& broadcast) {
  return std::make_unique<NcclReducer>(rank, size, broadcast);
}

}  // namespace resnetc::cuda_backend
