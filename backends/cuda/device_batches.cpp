#include "backends/cuda/device_batches.h"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "backends/cuda/batch_kernels.h"
#include "runtime/data/resize.h"
#include "runtime/data/sampler.h"

namespace resnetc::cuda_backend {
namespace {

template <class T>
cuda::DeviceBuffer upload(const cuda::Device& device, const std::vector<T>& host) {
  cuda::DeviceBuffer buffer(device, std::max<size_t>(host.size() * sizeof(T), sizeof(T)));
  if (!host.empty()) buffer.upload(std::as_bytes(std::span<const T>(host)));
  return buffer;
}

class DeviceBatches : public train::BatchSource {
 public:
  DeviceBatches(const cuda::Device& device, const cuda::CacheOptions& cache, const data::Split& split,
                const data::Normalization& normalization, const BatchTarget& target)
      : target_(target) {
    const data::Resizer resizer(split.height, split.width, target.height, target.width);
    const data::Resizer::Filter rows = resizer.row_filter(), cols = resizer.col_filter();
    shape_ = {target.batch, split.height, split.width, target.height, target.width, rows.taps, cols.taps, split.count,
              split.channels, normalization.mean, normalization.std};
    try {
      images_ = upload(device, split.images);
      labels_ = upload(device, std::vector<int32_t>(split.labels.begin(), split.labels.end()));
      row_first_ = upload(device, rows.first);
      row_weights_ = upload(device, rows.weights);
      col_first_ = upload(device, cols.first);
      col_weights_ = upload(device, cols.weights);
      indices_ = cuda::DeviceBuffer(device, static_cast<size_t>(target.batch) * sizeof(uint32_t));
      order_ = cuda::DeviceBuffer(device, static_cast<size_t>(std::max<int64_t>(split.count, 1)) * sizeof(uint32_t));
      keys_ = cuda::DeviceBuffer(device, static_cast<size_t>(codegen::cuda::shuffle_keys(shape_)) * sizeof(uint64_t));
      scratch_ = cuda::DeviceBuffer(device, static_cast<size_t>(target.batch * split.channels * split.height * target.width));
    } catch (const cuda::CudaError& e) {
      throw cuda::CudaError(fmt::format("keeping the data set on the GPU ({} images of {}x{}x{}, {:.1f} MiB) failed: {}",
                                        split.count, split.channels, split.height, split.width,
                                        static_cast<double>(split.images.size()) / (1 << 20), e.what()));
    }
    cuda::CompileRequest request;
    request.name = "batches.cu";
    request.source = codegen::cuda::batch_kernels_source(shape_);
    request.arch = device.arch();
    module_ = std::make_unique<cuda::Module>(device, cuda::compile_cached(request, cache).cubin);
    horizontal_ = module_->function("rc_batch_horizontal");
    vertical_ = module_->function("rc_batch_vertical");
    labels_fn_ = module_->function("rc_batch_labels");
    shuffle_fn_ = module_->function("rc_batch_shuffle");
  }

  // On the legacy default stream, so the synchronous download waits for the sort; the batch
  // kernels, on the plan's stream, are enqueued after that download returned.
  std::vector<uint32_t> shuffle(uint64_t seed, int epoch) override {
    const uint64_t stream = data::order_stream(seed, epoch);
    cuda::launch_with(shuffle_fn_, {{1, 1, 1}, {codegen::cuda::kShuffleThreads, 1, 1}, 0, nullptr}, order_.get(),
                      keys_.get(), stream);
    std::vector<uint32_t> order(static_cast<size_t>(shape_.examples));
    order_.download(std::as_writable_bytes(std::span(order)));
    // The batch kernels index the data set with it: an index out of range must stop here, named.
    for (size_t i = 0; i < order.size(); ++i)
      if (order[i] >= order.size())
        throw cuda::CudaError(fmt::format("rc_batch_shuffle drew a wrong order for epoch {}: position {} holds {}, "
                                          "past the {} examples",
                                          epoch, i, order[i], order.size()));
    return order;
  }

  void feed_order(int64_t first) override {
    if (first < 0 || first + shape_.batch > shape_.examples)
      throw std::out_of_range(fmt::format("feed_order: positions {}..{} but the split has {} examples", first,
                                          first + shape_.batch - 1, shape_.examples));
    enqueue(order_.get() + static_cast<cuda::DevicePtr>(first) * sizeof(uint32_t));
  }

  void feed(std::span<const uint32_t> indices) override {
    indices_.upload(std::as_bytes(indices));
    enqueue(indices_.get());
  }

 private:
  // The batch kernels for the examples whose indices are at `indices` on the device.
  void enqueue(cuda::DevicePtr indices) {
    auto config = [&](unsigned blocks) {
      return cuda::LaunchConfig{{blocks, 1, 1}, {codegen::cuda::kBatchThreads, 1, 1}, 0, target_.stream};
    };
    cuda::launch_with(horizontal_, config(codegen::cuda::batch_horizontal_blocks(shape_)), scratch_.get(), images_.get(),
                      indices, col_first_.get(), col_weights_.get());
    cuda::launch_with(vertical_, config(codegen::cuda::batch_vertical_blocks(shape_)), target_.input, scratch_.get(),
                      row_first_.get(), row_weights_.get());
    if (target_.labels != 0)
      cuda::launch_with(labels_fn_, config(codegen::cuda::batch_labels_blocks(shape_)), target_.labels, labels_.get(),
                        indices);
  }

  BatchTarget target_;
  codegen::cuda::BatchShape shape_;
  cuda::DeviceBuffer images_, labels_, row_first_, row_weights_, col_first_, col_weights_, indices_, scratch_;
  cuda::DeviceBuffer order_, keys_;  // the epoch's order, and the sort's keys
  std::unique_ptr<cuda::Module> module_;
  cuda::Function horizontal_{}, vertical_{}, labels_fn_{}, shuffle_fn_{};
};

}  // namespace

std::unique_ptr<train::BatchSource> make_device_batches(const cuda::Device& device, const cuda::CacheOptions& cache,
                                                        const data::Split& split,
                                                        const data::Normalization& normalization,
                                                        const BatchTarget& target) {
  return std::make_unique<DeviceBatches>(device, cache, split, normalization, target);
}

}  // namespace resnetc::cuda_backend
