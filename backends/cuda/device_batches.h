#pragma once
// Batches assembled on the GPU: the split's uint8 images and labels uploaded once, each
// epoch's order drawn there, each batch gathered, resized (PIL-exact,
// backends/cuda/batch_kernels.h) and converted there straight into the plan's input
// buffer. A training batch sends nothing over the bus; an evaluation batch, its indices.
#include <memory>

#include "runtime/cuda/compile_cache.h"
#include "runtime/cuda/driver.h"
#include "runtime/data/augment.h"
#include "runtime/data/dataset.h"
#include "runtime/data/normalize.h"
#include "train/executor.h"

namespace resnetc::cuda_backend {

struct BatchTarget {
  cuda::DevicePtr input = 0;   // [B, C, H, W] float, C the split's channels
  cuda::DevicePtr labels = 0;  // [B] int32; 0: the plan takes no labels (evaluation)
  int64_t batch = 1, height = 1, width = 1;
  cuda::StreamHandle stream = nullptr;  // the plan's stream: the batch is ready when its step starts
};

// feed_order() and feed() enqueue the kernels on `target.stream`, which must be idle (the
// executor synchronises it at the end of every step); feed() first uploads the indices, a
// synchronous copy.
// Compiles the batch kernels for `split` (seen through `transform`, normalized by `normalization`) -> `target`
// through the NVRTC cache. Throws cuda::CudaError (out of memory: the message says how much the data set needs).
// An augmented split's views are drawn on the host (the last shuffle's seed and epoch) and uploaded with each
// batch, 20 bytes an image, nothing else (the view kernels compute the resize filters).
std::unique_ptr<train::BatchSource> make_device_batches(const cuda::Device& device, const cuda::CacheOptions& cache,
                                                        const data::Split& split,
                                                        const data::Normalization& normalization,
                                                        const data::ImageTransform& transform,
                                                        const BatchTarget& target);

}  // namespace resnetc::cuda_backend
