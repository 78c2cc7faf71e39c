#include "runtime/data/sampler.h"

#include <numeric>
#include <random>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

namespace resnetc::data {
namespace {

// SplitMix64 finaliser: spreads (seed, epoch) over the whole state so neighbouring
// epochs or seeds start unrelated streams.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform in [0, bound): reject the lowest 2^64 mod bound raw values so that every
// residue is equally likely (std::uniform_int_distribution's algorithm is unspecified).
uint64_t below(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;  // == 2^64 mod bound
  uint64_t x = rng();
  while (x < threshold) x = rng();
  return x % bound;
}

}  // namespace

std::vector<uint32_t> epoch_order(uint64_t seed, int epoch, uint32_t n) {
  std::mt19937_64 rng(mix(mix(seed) ^ static_cast<uint64_t>(static_cast<int64_t>(epoch))));
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  for (uint32_t i = n; i > 1; --i) {
    const auto j = static_cast<uint32_t>(below(rng, i));
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

void fill_batch(const Split& split, std::span<const uint32_t> indices, const Resizer& resizer, float* images_out,
                int32_t* labels_out) {
  if (resizer.in_height() != split.height || resizer.in_width() != split.width) {
    throw std::invalid_argument(fmt::format("fill_batch: resizer expects {}x{} images, the split has {}x{}",
                                            resizer.in_height(), resizer.in_width(), split.height, split.width));
  }
  const auto in_pixels = static_cast<size_t>(split.height * split.width);
  const auto out_pixels = static_cast<size_t>(resizer.out_height() * resizer.out_width());
  // One scratch buffer per batch; the per-image loop allocates nothing.
  std::vector<uint8_t> scratch(resizer.scratch_size());
  for (size_t i = 0; i < indices.size(); ++i) {
    const uint32_t index = indices[i];
    if (index >= split.count) {
      throw std::out_of_range(fmt::format("fill_batch: index {} but the split has {} images", index, split.count));
    }
    resizer.resize(std::span(split.images).subspan(index * in_pixels, in_pixels),
                   std::span(images_out + i * out_pixels, out_pixels), scratch);
    labels_out[i] = split.labels[index];
  }
}

}  // namespace resnetc::data
