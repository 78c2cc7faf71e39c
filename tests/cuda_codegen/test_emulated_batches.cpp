// The GPU's batch assembly (backends/cuda/batch_kernels.h) under emulation gives the
// host's batches bit for bit: data::fill_batch's gather, PIL-exact resize, /255, per-channel
// normalization and labels, and data::epoch_order's shuffle; and augmented batches
// (backends/cuda/view_kernels.h) are data::fill_view_batch's.
#include <catch2/catch.hpp>

#include <bit>
#include <random>

#include "backends/cuda/batch_kernels.h"
#include "backends/cuda/view_arguments.h"
#include "runtime/data/augment.h"
#include "runtime/data/sampler.h"
#include "tests/cuda_codegen/emulated_plan.h"

using namespace resnetc;

namespace {

void check_batches(int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w, int64_t channels = 1,
                   const data::Normalization& normalization = {}) {
  INFO(channels << "x" << in_h << "x" << in_w << " -> " << out_h << "x" << out_w
                << (normalization.empty() ? "" : ", normalized"));
  data::Split split{11, in_h, in_w, {}, {}};
  split.channels = channels;
  std::mt19937 rng(5);
  for (int64_t i = 0; i < split.count * channels * in_h * in_w; ++i) split.images.push_back(static_cast<uint8_t>(rng()));
  for (int64_t i = 0; i < split.count; ++i) split.labels.push_back(static_cast<int32_t>(rng() % 1000));  // past a byte
  const std::vector<uint32_t> indices{7, 0, 10, 3, 3, 9, 1};  // a repeat, the first and last images
  const auto batch = static_cast<int64_t>(indices.size());

  const data::Resizer resizer(in_h, in_w, out_h, out_w);
  std::vector<float> want(static_cast<size_t>(batch * channels * out_h * out_w));
  std::vector<int32_t> want_labels(indices.size());
  data::fill_batch(split, indices, resizer, want.data(), want_labels.data(), normalization);

  const data::Resizer::Filter rows = resizer.row_filter(), cols = resizer.col_filter();
  const codegen::cuda::BatchShape shape{batch,     in_h,        in_w,     out_h,
                                        out_w,     rows.taps,   cols.taps, split.count,
                                        channels,  normalization.mean, normalization.std};
  testing::EmulatedModule module(codegen::cuda::batch_kernels_source(shape));
  std::vector<uint8_t> scratch(static_cast<size_t>(batch * channels * in_h * out_w));
  std::vector<float> input(want.size(), -1.0f);
  std::vector<int32_t> labels(split.labels.begin(), split.labels.end()), labels_out(indices.size(), -1);
  const unsigned block[3] = {codegen::cuda::kBatchThreads, 1, 1};
  {
    void* args[] = {scratch.data(), split.images.data(), const_cast<uint32_t*>(indices.data()), const_cast<int*>(cols.first.data()),
                    const_cast<int32_t*>(cols.weights.data())};
    const unsigned grid[3] = {codegen::cuda::batch_horizontal_blocks(shape), 1, 1};
    module.launch("rc_batch_horizontal", grid, block, args);
  }
  {
    void* args[] = {input.data(), scratch.data(), const_cast<int*>(rows.first.data()), const_cast<int32_t*>(rows.weights.data())};
    const unsigned grid[3] = {codegen::cuda::batch_vertical_blocks(shape), 1, 1};
    module.launch("rc_batch_vertical", grid, block, args);
  }
  {
    void* args[] = {labels_out.data(), labels.data(), const_cast<uint32_t*>(indices.data())};
    const unsigned grid[3] = {codegen::cuda::batch_labels_blocks(shape), 1, 1};
    module.launch("rc_batch_labels", grid, block, args);
  }
  // Bit for bit: a compare of the bytes (== would take -0.0 for 0.0).
  size_t differing = 0;
  for (size_t i = 0; i < want.size(); ++i) differing += std::bit_cast<uint32_t>(input[i]) != std::bit_cast<uint32_t>(want[i]);
  CHECK(differing == 0);
  CHECK(labels_out == want_labels);
}

}  // namespace

TEST_CASE("batches assembled by the GPU kernels equal the host's bit for bit", "[cuda][batches]") {
  check_batches(28, 28, 96, 96);  // the seed's recipe: upsampling
  check_batches(28, 28, 28, 28);  // unchanged: both passes the identity
  check_batches(28, 28, 20, 24);  // shrinking: antialiased, wider filters
  check_batches(7, 9, 13, 5);     // one axis each way, sizes that divide nothing
  check_batches(32, 32, 32, 32, 3);  // CIFAR: three planes an image, unchanged
  check_batches(32, 32, 40, 24, 3);  // three planes, one axis each way
}

TEST_CASE("normalized batches of the GPU kernels equal the host's bit for bit", "[cuda][batches]") {
  // CIFAR-10's usual values: a mean and std a channel, neither exact in binary.
  const data::Normalization cifar{{0.4914f, 0.4822f, 0.4465f}, {0.247f, 0.243f, 0.261f}};
  check_batches(32, 32, 32, 32, 3, cifar);  // unchanged
  check_batches(32, 32, 40, 24, 3, cifar);  // resized
  const data::Normalization gray{{0.2860f}, {0.3530f}};  // Fashion-MNIST's
  check_batches(28, 28, 28, 28, 1, gray);
  check_batches(28, 28, 96, 96, 1, gray);
}

namespace {

std::vector<uint32_t> emulated_order(uint64_t seed, int epoch, int64_t examples) {
  codegen::cuda::BatchShape shape;
  shape.examples = examples;
  testing::EmulatedModule module(codegen::cuda::batch_kernels_source(shape));
  std::vector<uint32_t> order(static_cast<size_t>(examples), 0xFFFFFFFFu);
  std::vector<uint64_t> keys(static_cast<size_t>(codegen::cuda::shuffle_keys(shape)));
  uint64_t stream = data::order_stream(seed, epoch);
  void* args[] = {order.data(), keys.data(), &stream};
  const unsigned grid[3] = {1, 1, 1}, block[3] = {codegen::cuda::kShuffleThreads, 1, 1};
  module.launch("rc_batch_shuffle", grid, block, args);
  return order;
}

}  // namespace

TEST_CASE("the GPU's shuffle draws the host's epoch order", "[cuda][batches]") {
  // Sizes below, at and above the block's thread count and powers of two, the training set's.
  for (const int64_t n : {1, 2, 3, 1000, 1024, 1025, 4096, 60000}) {
    INFO("n = " << n);
    CHECK(emulated_order(42, 3, n) == data::epoch_order(42, 3, static_cast<uint32_t>(n)));
  }
  CHECK(emulated_order(7, 0, 777) == data::epoch_order(7, 0, 777));
}

namespace {

// The view kernels with the arguments the device path uploads (backends/cuda/view_arguments.h),
// the views alone, give data::fill_view_batch's batch, byte for byte: the kernels compute the
// resize filters with the host's double operations, each rounded (view_kernels.h), the resize
// is PIL's integer arithmetic on both sides, the flip a choice of column and the normalization
// the same two float operations.
void check_view_batches(const data::Augmentation& augmentation, int64_t in_h, int64_t in_w, int64_t out_h,
                        int64_t out_w, int64_t channels, bool training, const data::Normalization& normalization = {}) {
  INFO(data::describe(augmentation) << (training ? " (training) " : " (evaluation) ") << channels << "x" << in_h << "x"
                                    << in_w << " -> " << out_h << "x" << out_w);
  data::Split split{13, in_h, in_w, {}, {}};
  split.channels = channels;
  std::mt19937 rng(9);
  for (int64_t i = 0; i < split.count * channels * in_h * in_w; ++i) split.images.push_back(static_cast<uint8_t>(rng()));
  for (int64_t i = 0; i < split.count; ++i) split.labels.push_back(static_cast<uint8_t>(rng() % 10));
  const std::vector<uint32_t> indices{7, 0, 12, 3, 3, 9, 1, 5};
  const auto batch = static_cast<int64_t>(indices.size());
  const data::ImageTransform transform =
      training ? data::ImageTransform::training(augmentation, in_h, in_w, out_h, out_w)
               : data::ImageTransform::evaluation(augmentation, in_h, in_w);
  std::vector<data::View> views;
  for (const uint32_t i : indices) views.push_back(transform.view(42, 3, i));
  std::vector<float> want(static_cast<size_t>(batch * channels * out_h * out_w));
  std::vector<int32_t> want_labels(indices.size());
  data::fill_view_batch(split, indices, views, out_h, out_w, want.data(), want_labels.data(), normalization);

  codegen::cuda::BatchShape plain{batch, in_h, in_w, out_h, out_w, 1, 1, split.count, channels, normalization.mean,
                                  normalization.std};
  const codegen::cuda::ViewShape shape = codegen::cuda::view_shape(plain, transform);
  std::vector<int32_t> arguments = codegen::cuda::view_arguments(views);
  testing::EmulatedModule module(codegen::cuda::view_kernels_source(shape));
  std::vector<uint8_t> scratch(static_cast<size_t>(batch * channels * shape.view_rows * out_w));
  std::vector<float> input(want.size(), -1.0f);
  const unsigned block[3] = {codegen::cuda::kBatchThreads, 1, 1};
  {
    void* args[] = {scratch.data(), split.images.data(), const_cast<uint32_t*>(indices.data()), arguments.data()};
    const unsigned grid[3] = {codegen::cuda::view_horizontal_blocks(shape), 1, 1};
    module.launch("rc_view_horizontal", grid, block, args);
  }
  {
    void* args[] = {input.data(), scratch.data(), arguments.data()};
    const unsigned grid[3] = {codegen::cuda::view_vertical_blocks(shape), 1, 1};
    module.launch("rc_view_vertical", grid, block, args);
  }
  size_t differing = 0;
  for (size_t i = 0; i < want.size(); ++i) differing += std::bit_cast<uint32_t>(input[i]) != std::bit_cast<uint32_t>(want[i]);
  CHECK(differing == 0);
}

data::Augmentation random_crop(int64_t size, int64_t padding, bool flip) {
  data::Augmentation a;
  a.random_crop = data::RandomCrop{{size, size}, padding};
  a.flip = flip;
  return a;
}

}  // namespace

TEST_CASE("augmented batches of the GPU kernels equal the host's bit for bit", "[cuda][batches][augment]") {
  const data::Normalization cifar{{0.4914f, 0.4822f, 0.4465f}, {0.247f, 0.243f, 0.261f}};
  check_view_batches(random_crop(32, 4, true), 32, 32, 32, 32, 3, true, cifar);  // the CIFAR recipe
  check_view_batches(random_crop(24, 3, false), 28, 28, 12, 12, 1, true);         // a crop then shrunk
  check_view_batches(random_crop(9, 2, true), 7, 9, 13, 11, 2, true);             // a crop then enlarged
  data::Augmentation flip_only;
  flip_only.flip = true;
  check_view_batches(flip_only, 28, 28, 20, 24, 1, true);
  data::Augmentation center;
  center.center_crop = data::CropSize{20, 18};
  check_view_batches(center, 28, 28, 28, 28, 1, false);  // evaluation's center crop, resized back
  check_view_batches(center, 28, 28, 20, 18, 1, false);  // and at the input's size: a copy
  data::Augmentation resized;
  resized.random_resized_crop = data::RandomResizedCrop{{16, 16}};
  resized.flip = true;
  check_view_batches(resized, 32, 30, 16, 16, 3, true, cifar);  // a filter per image
  resized.random_resized_crop = data::RandomResizedCrop{{40, 36}, 0.5, 1};
  check_view_batches(resized, 32, 30, 40, 36, 1, true);  // enlarged
  resized.random_resized_crop = data::RandomResizedCrop{{20, 28}, 0.08, 1, 0.5, 2};
  check_view_batches(resized, 64, 48, 20, 28, 2, true);  // shrunk by up to 3x, wide and tall views
}
