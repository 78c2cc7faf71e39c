#include "runtime/data/load_size.h"

#include <algorithm>
#include <cmath>

namespace resnetc::data {

LoadGeometry load_geometry(const ImageSize& size, int64_t height, int64_t width) {
  if (!size.shorter_side) return {size.size.height, size.size.width, 0, 0};
  const int64_t n = size.size.height;
  const int64_t shorter = std::min(height, width), longer = std::max(height, width);
  // Python's int(n * longer / shorter): a true division of the exact product, truncated.
  const auto resized_longer =
      static_cast<int64_t>(static_cast<double>(n * longer) / static_cast<double>(shorter));
  const int64_t h = height <= width ? n : resized_longer, w = height <= width ? resized_longer : n;
  // Python's round() rounds ties to even, as nearbyint does in the default rounding mode.
  return {h, w, static_cast<int64_t>(std::nearbyint(static_cast<double>(h - n) / 2.0)),
          static_cast<int64_t>(std::nearbyint(static_cast<double>(w - n) / 2.0))};
}

}  // namespace resnetc::data
