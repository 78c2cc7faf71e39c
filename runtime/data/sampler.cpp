#include "runtime/data/sampler.h"

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

namespace resnetc::data {
namespace {

// SplitMix64: the golden-ratio increment, then its finaliser.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

uint64_t order_stream(uint64_t seed, int epoch) {
  return mix(mix(seed) ^ static_cast<uint64_t>(static_cast<int64_t>(epoch)));
}

int order_index_bits(uint32_t n) { return n <= 1 ? 0 : static_cast<int>(std::bit_width(n - 1)); }

uint64_t order_key(uint64_t stream, uint32_t i, int index_bits) {
  return (mix(stream + i * 0x9E3779B97F4A7C15ull) >> index_bits << index_bits) | i;
}

std::vector<uint32_t> epoch_order(uint64_t seed, int epoch, uint32_t n) {
  const uint64_t stream = order_stream(seed, epoch);
  const int bits = order_index_bits(n);
  std::vector<uint64_t> keys(n);
  for (uint32_t i = 0; i < n; ++i) keys[i] = order_key(stream, i, bits);
  std::sort(keys.begin(), keys.end());
  const uint64_t index_mask = (uint64_t{1} << bits) - 1;
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(keys[i] & index_mask);
  return order;
}

void fill_batch(const Split& split, std::span<const uint32_t> indices, const Resizer& resizer, float* images_out,
                int32_t* labels_out, const Normalization& normalization) {
  if (resizer.in_height() != split.height || resizer.in_width() != split.width) {
    throw std::invalid_argument(fmt::format("fill_batch: resizer expects {}x{} images, the split has {}x{}",
                                            resizer.in_height(), resizer.in_width(), split.height, split.width));
  }
  if (!normalization.empty() && (std::ssize(normalization.mean) != split.channels ||
                                 std::ssize(normalization.std) != split.channels)) {
    throw std::invalid_argument(fmt::format("fill_batch: {} means and {} stds for images of {} channels",
                                            normalization.mean.size(), normalization.std.size(), split.channels));
  }
  // Each channel is a plane of its own, resized alone, as PIL resizes each band of an image.
  const auto planes = static_cast<size_t>(split.channels);
  const auto in_pixels = static_cast<size_t>(split.height * split.width);
  const auto out_pixels = static_cast<size_t>(resizer.out_height() * resizer.out_width());
  // One scratch buffer per batch; the per-image loop allocates nothing.
  std::vector<uint8_t> scratch(resizer.scratch_size());
  for (size_t i = 0; i < indices.size(); ++i) {
    const uint32_t index = indices[i];
    if (index >= split.count) {
      throw std::out_of_range(fmt::format("fill_batch: index {} but the split has {} images", index, split.count));
    }
    for (size_t c = 0; c < planes; ++c) {
      const std::span<float> plane(images_out + (i * planes + c) * out_pixels, out_pixels);
      resizer.resize(std::span(split.images).subspan((index * planes + c) * in_pixels, in_pixels), plane, scratch);
      if (!normalization.empty()) normalize_plane(plane, normalization.mean[c], normalization.std[c]);
    }
    labels_out[i] = split.labels[index];
  }
}

}  // namespace resnetc::data
