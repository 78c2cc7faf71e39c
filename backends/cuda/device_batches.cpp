#include "backends/cuda/device_batches.h"

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "backends/cuda/batch_kernels.h"
#include "backends/cuda/view_kernels.h"
#include "backends/cuda/view_arguments.h"
#include "runtime/data/resize.h"
#include "runtime/data/sampler.h"

namespace resnetc::cuda_backend {
namespace {

template <class T, class Allocator>
cuda::DeviceBuffer upload(const cuda::Device& device, const std::vector<T, Allocator>& host) {
  cuda::DeviceBuffer buffer(device, std::max<size_t>(host.size() * sizeof(T), sizeof(T)));
  if (!host.empty()) buffer.upload(std::as_bytes(std::span<const T>(host)));
  return buffer;
}

// The module NVRTC compiles (through the cache) from `source`, named `name` in its diagnostics,
// with each kernel's function stored where its pair points.
std::unique_ptr<cuda::Module> load_kernels(const cuda::Device& device, const cuda::CacheOptions& cache,
                                           const char* name, std::string source,
                                           std::initializer_list<std::pair<cuda::Function*, const char*>> kernels) {
  cuda::CompileRequest request;
  request.name = name;
  request.source = std::move(source);
  request.arch = device.arch();
  auto module = std::make_unique<cuda::Module>(device, cuda::compile_cached(request, cache).cubin);
  for (const auto& [function, kernel] : kernels) *function = module->function(kernel);
  return module;
}

// The per-image views of an augmented split, on the device: the
// view kernels (view_kernels.h) in place of the plain resize.
class DeviceViews {
 public:
  DeviceViews(const cuda::Device& device, const cuda::CacheOptions& cache, const data::Split& split,
              const data::ImageTransform& transform, const codegen::cuda::BatchShape& plain, const BatchTarget& target)
      : transform_(transform), shape_(codegen::cuda::view_shape(plain, transform)) {
    const int64_t scratch_bytes = target.batch * split.channels * shape_.view_rows * target.width;
    try {
      views_ = cuda::DeviceBuffer(device, static_cast<size_t>(target.batch * codegen::cuda::kViewInts) * sizeof(int32_t));
      scratch_ = cuda::DeviceBuffer(device, static_cast<size_t>(scratch_bytes));
    } catch (const cuda::CudaError& e) {
      throw cuda::CudaError(fmt::format("the augmentation's buffers on the GPU ({:.1f} MiB) failed: {}",
                                        static_cast<double>(scratch_bytes) / (1 << 20), e.what()));
    }
    module_ = load_kernels(device, cache, "views.cu", codegen::cuda::view_kernels_source(shape_),
                           {{&horizontal_, "rc_view_horizontal"}, {&vertical_, "rc_view_vertical"}});
  }

  // Uploads the views of the images at `indices` (host copies) in epoch `epoch` of the run
  // seeded `seed`, then enqueues the kernels on the images at `device_indices`.
  void enqueue(std::span<const uint32_t> indices, uint64_t seed, int epoch, cuda::DevicePtr images,
               cuda::DevicePtr device_indices, const BatchTarget& target) {
    std::vector<data::View> views;
    for (const uint32_t index : indices) views.push_back(transform_.view(seed, epoch, index));
    const std::vector<int32_t> arguments = codegen::cuda::view_arguments(views);
    views_.upload(std::as_bytes(std::span<const int32_t>(arguments)));
    auto config = [&](unsigned blocks) {
      return cuda::LaunchConfig{{blocks, 1, 1}, {codegen::cuda::kBatchThreads, 1, 1}, 0, target.stream};
    };
    cuda::launch_with(horizontal_, config(codegen::cuda::view_horizontal_blocks(shape_)), scratch_.get(), images,
                      device_indices, views_.get());
    cuda::launch_with(vertical_, config(codegen::cuda::view_vertical_blocks(shape_)), target.input, scratch_.get(),
                      views_.get());
  }

 private:
  data::ImageTransform transform_;
  codegen::cuda::ViewShape shape_;
  cuda::DeviceBuffer views_, scratch_;
  std::unique_ptr<cuda::Module> module_;
  cuda::Function horizontal_{}, vertical_{};
};

class DeviceBatches : public train::BatchSource {
 public:
  DeviceBatches(const cuda::Device& device, const cuda::CacheOptions& cache, const data::Split& split,
                const data::Normalization& normalization, const data::ImageTransform& transform,
                const BatchTarget& target)
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
      throw cuda::CudaError(fmt::format("keeping the data set on the GPU ({} images of {}x{}x{}, {:.1f} MiB) failed: {}; "
                                        "it is uploaded whole: give a smaller --image-size, or train on the CPU",
                                        split.count, split.channels, split.height, split.width,
                                        static_cast<double>(split.images.size()) / (1 << 20), e.what()));
    }
    module_ = load_kernels(device, cache, "batches.cu", codegen::cuda::batch_kernels_source(shape_),
                           {{&horizontal_, "rc_batch_horizontal"},
                            {&vertical_, "rc_batch_vertical"},
                            {&labels_fn_, "rc_batch_labels"},
                            {&shuffle_fn_, "rc_batch_shuffle"}});
    if (!transform.identity()) views_.emplace(device, cache, split, transform, shape_, target);
  }

  // On the legacy default stream, so the synchronous download waits for the sort; the batch
  // kernels, on the plan's stream, are enqueued after that download returned.
  std::vector<uint32_t> shuffle(uint64_t seed, int epoch) override {
    const uint64_t stream = data::order_stream(seed, epoch);
    cuda::launch_with(shuffle_fn_, {{1, 1, 1}, {codegen::cuda::kShuffleThreads, 1, 1}, 0, nullptr}, order_.get(),
                      keys_.get(), stream);
    std::vector<uint32_t> order(static_cast<size_t>(shape_.examples));
    order_.download(std::as_writable_bytes(std::span(order)));
    seed_ = seed;
    epoch_ = epoch;
    // The batch kernels index the data set with it: an index out of range must stop here, named.
    for (size_t i = 0; i < order.size(); ++i)
      if (order[i] >= order.size())
        throw cuda::CudaError(fmt::format("rc_batch_shuffle drew a wrong order for epoch {}: position {} holds {}, "
                                          "past the {} examples",
                                          epoch, i, order[i], order.size()));
    if (views_) order_host_ = order;  // the views are drawn on the host, from the images' indices
    return order;
  }

  void feed_order(int64_t first) override {
    if (first < 0 || first + shape_.batch > shape_.examples)
      throw std::out_of_range(fmt::format("feed_order: positions {}..{} but the split has {} examples", first,
                                          first + shape_.batch - 1, shape_.examples));
    const auto batch = static_cast<size_t>(shape_.batch);
    enqueue(order_.get() + static_cast<cuda::DevicePtr>(first) * sizeof(uint32_t),
            views_ ? std::span<const uint32_t>(order_host_).subspan(static_cast<size_t>(first), batch)
                   : std::span<const uint32_t>());
  }

  void feed(std::span<const uint32_t> indices) override {
    indices_.upload(std::as_bytes(indices));
    enqueue(indices_.get(), indices);
  }

 private:
  // The batch kernels for the examples whose indices are at `indices` on the device (`host_indices`
  // their host copy, for the views of an augmented split).
  void enqueue(cuda::DevicePtr indices, std::span<const uint32_t> host_indices) {
    auto config = [&](unsigned blocks) {
      return cuda::LaunchConfig{{blocks, 1, 1}, {codegen::cuda::kBatchThreads, 1, 1}, 0, target_.stream};
    };
    if (views_) {
      views_->enqueue(host_indices, seed_, epoch_, images_.get(), indices, target_);
    } else {
      cuda::launch_with(horizontal_, config(codegen::cuda::batch_horizontal_blocks(shape_)), scratch_.get(),
                        images_.get(), indices, col_first_.get(), col_weights_.get());
      cuda::launch_with(vertical_, config(codegen::cuda::batch_vertical_blocks(shape_)), target_.input, scratch_.get(),
                        row_first_.get(), row_weights_.get());
    }
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
  std::optional<DeviceViews> views_;  // an augmented split's
  std::vector<uint32_t> order_host_;  // the last shuffle's order, for its views
  uint64_t seed_ = 0;                 // the last shuffle's run and epoch: the views' draws
  int epoch_ = 0;
};

}  // namespace

std::unique_ptr<train::BatchSource> make_device_batches(const cuda::Device& device, const cuda::CacheOptions& cache,
                                                        const data::Split& split,
                                                        const data::Normalization& normalization,
                                                        const data::ImageTransform& transform,
                                                        const BatchTarget& target) {
  return std::make_unique<DeviceBatches>(device, cache, split, normalization, transform, target);
}

}  // namespace resnetc::cuda_backend
