#include "runtime/data/augment.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "runtime/data/resize.h"
#include "runtime/data/sampler.h"

namespace resnetc::data {
namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;
// Told apart from the shuffle's stream of the same (seed, epoch): "augment" in ASCII, big-endian.
constexpr uint64_t kAugmentSalt = 0x0061'7567'6D65'6E74ull;

// SplitMix64's step: the golden-ratio increment, then its finaliser (as data::epoch_order's).
uint64_t mix(uint64_t x) {
  x += kGolden;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Python's round(): to the nearest, ties to even (the default rounding mode).
int64_t round_even(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

void check_fits(const char* what, const CropSize& crop, int64_t height, int64_t width, int64_t padding) {
  if (crop.height <= height + 2 * padding && crop.width <= width + 2 * padding) return;
  throw std::invalid_argument(
      padding > 0 ? fmt::format("the {} {} is larger than the images, {}x{}, padded by {} ({}x{})", what,
                                format_crop_size(crop), height, width, padding, height + 2 * padding,
                                width + 2 * padding)
                  : fmt::format("the {} {} is larger than the images, {}x{}", what, format_crop_size(crop), height,
                                width));
}

}  // namespace

uint64_t augment_word(uint64_t seed, int epoch, uint32_t index, uint32_t k) {
  const uint64_t stream = mix(order_stream(seed, epoch) ^ kAugmentSalt);
  return mix(mix(stream + index * kGolden) + k * kGolden);
}

int64_t below(uint64_t word, int64_t n) {
  __extension__ using Wide = unsigned __int128;  // GCC's and Clang's; the product needs 128 bits
  return static_cast<int64_t>((static_cast<Wide>(word) * static_cast<uint64_t>(n)) >> 64);
}

double unit(uint64_t word) { return static_cast<double>(word >> 11) * 0x1p-53; }

View random_resized_view(const RandomResizedCrop& c, int64_t height, int64_t width, uint64_t seed, int epoch,
                         uint32_t index) {
  const double area = static_cast<double>(height * width);
  const double log_min = std::log(c.ratio_min), log_max = std::log(c.ratio_max);
  for (uint32_t t = 0; t < 10; ++t) {
    const uint32_t k = 4 * t + 1;
    const double target = area * (c.scale_min + (c.scale_max - c.scale_min) * unit(augment_word(seed, epoch, index, k)));
    const double ratio = std::exp(log_min + (log_max - log_min) * unit(augment_word(seed, epoch, index, k + 1)));
    const int64_t w = round_even(std::sqrt(target * ratio)), h = round_even(std::sqrt(target / ratio));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const int64_t top = below(augment_word(seed, epoch, index, k + 2), height - h + 1);
      const int64_t left = below(augment_word(seed, epoch, index, k + 3), width - w + 1);
      return {static_cast<int32_t>(top), static_cast<int32_t>(left), static_cast<int32_t>(h), static_cast<int32_t>(w)};
    }
  }
  // No try fit: the whole image, cut to the ratio's nearest bound, centered.
  const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
  int64_t w = width, h = height;
  if (in_ratio < c.ratio_min) {
    h = round_even(static_cast<double>(w) / c.ratio_min);
  } else if (in_ratio > c.ratio_max) {
    w = round_even(static_cast<double>(h) * c.ratio_max);
  }
  return {static_cast<int32_t>((height - h) / 2), static_cast<int32_t>((width - w) / 2), static_cast<int32_t>(h),
          static_cast<int32_t>(w)};
}

ImageTransform ImageTransform::evaluation(const Augmentation& a, int64_t height, int64_t width) {
  ImageTransform t;
  t.height_ = height;
  t.width_ = width;
  t.size_ = {height, width};
  if (a.center_crop) {
    check_fits("center crop", *a.center_crop, height, width, 0);
    t.size_ = *a.center_crop;
    // torchvision's CenterCrop: int(round((height - crop) / 2.0)).
    t.top_ = round_even(static_cast<double>(height - t.size_.height) / 2.0);
    t.left_ = round_even(static_cast<double>(width - t.size_.width) / 2.0);
  }
  return t;
}

ImageTransform ImageTransform::training(const Augmentation& a, int64_t height, int64_t width, int64_t out_height,
                                        int64_t out_width) {
  if (a.random_crop && a.random_resized_crop)
    throw std::invalid_argument("a random crop and a random-resized crop cannot both be asked for: choose one");
  ImageTransform t = evaluation(a, height, width);
  t.flip_ = a.flip;
  if (a.random_crop) {
    check_fits("random crop", a.random_crop->size, height, width, a.random_crop->padding);
    t.size_ = a.random_crop->size;
    t.padding_ = a.random_crop->padding;
  } else if (a.random_resized_crop) {
    const CropSize& size = a.random_resized_crop->size;
    if (size.height != out_height || size.width != out_width)
      throw std::invalid_argument(fmt::format(
          "the random-resized crop's size {} must be the network's input, {}x{} (the crop is resized to it)",
          format_crop_size(size), out_height, out_width));
    t.resized_crop_ = a.random_resized_crop;
  }
  return t;
}

bool ImageTransform::identity() const {
  return !flip_ && !padding_ && !resized_crop_ && size_ == CropSize{height_, width_};
}

View ImageTransform::view(uint64_t seed, int epoch, uint32_t index) const {
  // Word 0 is the flip's, whatever else is drawn: RandomHorizontalFlip's p = 0.5.
  const bool flip = flip_ && (augment_word(seed, epoch, index, 0) >> 63) != 0;
  View v{static_cast<int32_t>(top_), static_cast<int32_t>(left_), static_cast<int32_t>(size_.height),
         static_cast<int32_t>(size_.width), flip};
  if (padding_) {
    // RandomCrop's top and left in the padded image, each uniform over the positions that fit.
    const int64_t p = *padding_;
    v.top = static_cast<int32_t>(below(augment_word(seed, epoch, index, 1), height_ + 2 * p - size_.height + 1) - p);
    v.left = static_cast<int32_t>(below(augment_word(seed, epoch, index, 2), width_ + 2 * p - size_.width + 1) - p);
  } else if (resized_crop_) {
    v = random_resized_view(*resized_crop_, height_, width_, seed, epoch, index);
    v.flip = flip;
  }
  return v;
}

void fill_view_batch(const Split& split, std::span<const uint32_t> indices, std::span<const View> views,
                     int64_t out_height, int64_t out_width, float* images_out, int32_t* labels_out,
                     const Normalization& normalization) {
  if (views.size() != indices.size())
    throw std::invalid_argument(fmt::format("fill_view_batch: {} views for {} images", views.size(), indices.size()));
  if (!normalization.empty() && (std::ssize(normalization.mean) != split.channels ||
                                 std::ssize(normalization.std) != split.channels)) {
    throw std::invalid_argument(fmt::format("fill_view_batch: {} means and {} stds for images of {} channels",
                                            normalization.mean.size(), normalization.std.size(), split.channels));
  }
  const auto planes = static_cast<size_t>(split.channels);
  const auto in_pixels = static_cast<size_t>(split.height * split.width);
  const auto out_pixels = static_cast<size_t>(out_height * out_width);
  std::optional<Resizer> resizer;  // rebuilt only when the view's size changes
  std::vector<uint8_t> cropped, scratch;
  for (size_t i = 0; i < indices.size(); ++i) {
    const uint32_t index = indices[i];
    if (index >= split.count)
      throw std::out_of_range(fmt::format("fill_view_batch: index {} but the split has {} images", index, split.count));
    const View& v = views[i];
    if (v.height < 1 || v.width < 1)
      throw std::invalid_argument(fmt::format("fill_view_batch: an empty view, {}x{}", v.height, v.width));
    if (!resizer || resizer->in_height() != v.height || resizer->in_width() != v.width) {
      resizer.emplace(v.height, v.width, out_height, out_width);
      scratch.resize(resizer->scratch_size());
    }
    cropped.resize(static_cast<size_t>(v.height) * static_cast<size_t>(v.width));
    for (size_t c = 0; c < planes; ++c) {
      const uint8_t* image = split.images.data() + (index * planes + c) * in_pixels;
      // The view's pixels, zero where it reaches past the image (the padding).
      for (int32_t y = 0; y < v.height; ++y) {
        const int64_t row = v.top + y;
        for (int32_t x = 0; x < v.width; ++x) {
          const int64_t col = v.left + x;
          const bool inside = row >= 0 && row < split.height && col >= 0 && col < split.width;
          cropped[static_cast<size_t>(y) * static_cast<size_t>(v.width) + static_cast<size_t>(x)] =
              inside ? image[row * split.width + col] : uint8_t{0};
        }
      }
      const std::span<float> plane(images_out + (i * planes + c) * out_pixels, out_pixels);
      resizer->resize(cropped, plane, scratch);
      if (v.flip)
        for (int64_t y = 0; y < out_height; ++y) std::reverse(plane.begin() + y * out_width, plane.begin() + (y + 1) * out_width);
      if (!normalization.empty()) normalize_plane(plane, normalization.mean[c], normalization.std[c]);
    }
    labels_out[i] = split.labels[index];
  }
}

}  // namespace resnetc::data
