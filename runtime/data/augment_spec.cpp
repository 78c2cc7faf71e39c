#include "runtime/data/augment_spec.h"

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace resnetc::data {
namespace {

constexpr int64_t kMaxSide = 32768;  // data::kMaxImageSide (resize.h), which this library does not link

int64_t whole(std::string_view text, int64_t min, int64_t max) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < min || v > max)
    throw std::invalid_argument(fmt::format("expected a whole number from {} to {}, got '{}'", min, max, text));
  return v;
}

double positive(std::string_view text) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v) || v <= 0)
    throw std::invalid_argument(fmt::format("expected a number above 0, got '{}'", text));
  return v;
}

// "A:B" -> {A, B}, A <= B.
std::pair<double, double> range(std::string_view key, std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos)
    throw std::invalid_argument(fmt::format("{} expects a range MIN:MAX, got '{}'", key, text));
  const double lo = positive(text.substr(0, colon)), hi = positive(text.substr(colon + 1));
  if (lo > hi) throw std::invalid_argument(fmt::format("{} {}: the minimum is above the maximum", key, text));
  return {lo, hi};
}

std::vector<std::string_view> split_commas(std::string_view text) {
  std::vector<std::string_view> items;
  for (size_t start = 0;;) {
    const size_t comma = text.find(',', start);
    items.push_back(text.substr(start, comma - start));
    if (comma == std::string_view::npos) return items;
    start = comma + 1;
  }
}

// The value of an item "key=value"; empty when the item is not of that key.
std::string_view value_of(std::string_view item, std::string_view key) {
  if (item.substr(0, key.size()) != key || item.size() <= key.size() || item[key.size()] != '=') return {};
  return item.substr(key.size() + 1);
}

}  // namespace

CropSize parse_crop_size(std::string_view text) {
  const size_t x = text.find('x');
  try {
    if (x == std::string_view::npos) {
      const int64_t n = whole(text, 1, kMaxSide);
      return {n, n};
    }
    return {whole(text.substr(0, x), 1, kMaxSide), whole(text.substr(x + 1), 1, kMaxSide)};
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(
        fmt::format("expected a size N or HxW (each side from 1 to {}), got '{}'", kMaxSide, text));
  }
}

ImageSize parse_image_size(std::string_view text) {
  return {parse_crop_size(text), text.find('x') == std::string_view::npos};
}

RandomCrop parse_random_crop(std::string_view text) {
  const std::vector<std::string_view> items = split_commas(text);
  RandomCrop crop{parse_crop_size(items[0]), 0};
  if (items.size() > 2)
    throw std::invalid_argument(fmt::format("expected SIZE[,padding=P], got '{}'", text));
  if (items.size() == 2) {
    const std::string_view p = value_of(items[1], "padding");
    if (p.empty()) throw std::invalid_argument(fmt::format("expected SIZE[,padding=P], got '{}'", text));
    try {
      crop.padding = whole(p, 0, kMaxSide);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(fmt::format("padding: {}", e.what()));
    }
  }
  return crop;
}

RandomResizedCrop parse_random_resized_crop(std::string_view text) {
  const std::vector<std::string_view> items = split_commas(text);
  RandomResizedCrop crop;
  crop.size = parse_crop_size(items[0]);
  bool scale = false, ratio = false;
  for (size_t i = 1; i < items.size(); ++i) {
    if (const std::string_view v = value_of(items[i], "scale"); !v.empty() && !scale) {
      std::tie(crop.scale_min, crop.scale_max) = range("scale", v);
      if (crop.scale_max > 1)
        throw std::invalid_argument(fmt::format("scale {}: the fractions of the image's area must be at most 1", v));
      scale = true;
    } else if (const std::string_view r = value_of(items[i], "ratio"); !r.empty() && !ratio) {
      std::tie(crop.ratio_min, crop.ratio_max) = range("ratio", r);
      ratio = true;
    } else {
      throw std::invalid_argument(fmt::format("expected SIZE[,scale=A:B][,ratio=C:D], got '{}'", text));
    }
  }
  return crop;
}

std::string format_crop_size(const CropSize& s) { return fmt::format("{}x{}", s.height, s.width); }

std::string format_image_size(const ImageSize& s) {
  return s.shorter_side ? std::to_string(s.size.height) : format_crop_size(s.size);
}

std::string format_random_crop(const RandomCrop& c) {
  return fmt::format("{},padding={}", format_crop_size(c.size), c.padding);
}

std::string format_random_resized_crop(const RandomResizedCrop& c) {
  return fmt::format("{},scale={}:{},ratio={}:{}", format_crop_size(c.size), c.scale_min, c.scale_max, c.ratio_min,
                     c.ratio_max);
}

std::string describe(const Augmentation& a) {
  std::vector<std::string> parts;
  if (a.random_crop) parts.push_back("random crop " + format_random_crop(*a.random_crop));
  if (a.random_resized_crop) parts.push_back("random resized crop " + format_random_resized_crop(*a.random_resized_crop));
  if (a.center_crop) parts.push_back("center crop " + format_crop_size(*a.center_crop));
  if (a.flip) parts.push_back("flip");
  if (parts.empty()) return "none";
  std::string out = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) out += ", " + parts[i];
  return out;
}

}  // namespace resnetc::data
