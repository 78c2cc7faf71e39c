#include "runtime/data/normalize.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace resnetc::data {

void normalize_plane(std::span<float> plane, float mean, float std) {
  for (float& x : plane) x = normalize_value(x, mean, std);
}

Normalization channel_statistics(const Split& split, const Resizer& resizer) {
  if (split.count == 0) throw std::invalid_argument("channel_statistics: the split has no images");
  const auto planes = static_cast<size_t>(split.channels);
  const auto in_pixels = static_cast<size_t>(split.height * split.width);
  const auto out_pixels = static_cast<size_t>(resizer.out_height() * resizer.out_width());
  std::vector<uint8_t> scratch(resizer.scratch_size());
  std::vector<float> resized(out_pixels);
  // Every channel plane of image i, resized and converted as fill_batch does.
  auto for_each_plane = [&](auto&& visit) {
    for (size_t i = 0; i < static_cast<size_t>(split.count); ++i)
      for (size_t c = 0; c < planes; ++c) {
        resizer.resize(std::span(split.images).subspan((i * planes + c) * in_pixels, in_pixels), std::span(resized),
                       scratch);
        visit(c);
      }
  };
  const double n = static_cast<double>(split.count) * static_cast<double>(out_pixels);
  std::vector<double> sum(planes, 0.0), squares(planes, 0.0);
  for_each_plane([&](size_t c) {
    for (float x : resized) sum[c] += x;
  });
  std::vector<double> mean(planes);
  for (size_t c = 0; c < planes; ++c) mean[c] = sum[c] / n;
  for_each_plane([&](size_t c) {
    for (float x : resized) squares[c] += (x - mean[c]) * (x - mean[c]);
  });
  Normalization out;
  for (size_t c = 0; c < planes; ++c) {
    const double std = std::sqrt(squares[c] / n);
    if (!(static_cast<float>(std) > 0))
      throw std::invalid_argument(fmt::format(
          "every training image has the same value in channel {}: its standard deviation is 0, nothing to normalize by",
          c));
    out.mean.push_back(static_cast<float>(mean[c]));
    out.std.push_back(static_cast<float>(std));
  }
  return out;
}

std::string format_values(const std::vector<float>& values) { return fmt::format("{}", fmt::join(values, ",")); }

std::optional<std::vector<float>> parse_values(const std::string& text, bool positive) {
  std::vector<float> values;
  size_t begin = 0;
  while (true) {
    const size_t end = std::min(text.find(',', begin), text.size());
    const std::string item = text.substr(begin, end - begin);
    char* stop = nullptr;
    const float v = std::strtof(item.c_str(), &stop);
    if (item.empty() || *stop != '\0' || !std::isfinite(v) || (positive && !(v > 0))) return std::nullopt;
    values.push_back(v);
    if (end == text.size()) return values;
    begin = end + 1;
  }
}

}  // namespace resnetc::data
