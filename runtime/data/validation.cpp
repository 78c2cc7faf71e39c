#include "runtime/data/validation.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/data/idx.h"
#include "runtime/data/sampler.h"

namespace resnetc::data {
namespace {

// The images at `indices`, in that order, kept where `from`'s are (in memory or in a file).
Split take(const Split& from, const std::vector<uint32_t>& indices) {
  Split out;
  out.images = ImageBytes(from.images.get_allocator());
  out.count = static_cast<int64_t>(indices.size());
  out.channels = from.channels;
  out.height = from.height;
  out.width = from.width;
  const auto image = static_cast<size_t>(from.channels * from.height * from.width);
  out.images.reserve(indices.size() * image);
  for (uint32_t i : indices) {
    out.images.insert(out.images.end(), from.images.begin() + static_cast<std::ptrdiff_t>(i * image),
                      from.images.begin() + static_cast<std::ptrdiff_t>((i + 1) * image));
    out.labels.push_back(from.labels[i]);
  }
  return out;
}

}  // namespace

CarvedSplits carve_validation(const Split& train, double fraction, uint64_t seed) {
  const auto held = static_cast<int64_t>(std::llround(fraction * static_cast<double>(train.count)));
  if (!(fraction > 0 && fraction < 1) || held < 1 || held >= train.count)
    throw DataError(fmt::format("a validation split of {} of the {} training images leaves {} for validation and {} "
                                "for training; each needs at least one",
                                fraction, train.count, held, train.count - held));
  // Epoch -1 is no training epoch, so the held-out images are not those that epoch 0 shows first.
  std::vector<uint32_t> order = epoch_order(seed, -1, static_cast<uint32_t>(train.count));
  std::vector<uint32_t> validation(order.begin(), order.begin() + held), rest(order.begin() + held, order.end());
  std::sort(validation.begin(), validation.end());
  std::sort(rest.begin(), rest.end());
  return {take(train, rest), take(train, validation)};
}

}  // namespace resnetc::data
