#include "train/run_augmentation.h"

#include <fmt/format.h>

#include <stdexcept>

#include "runtime/checkpoint/error.h"

namespace resnetc::train {
namespace {

constexpr const char* kRandomCrop = "augment_random_crop";
constexpr const char* kRandomResizedCrop = "augment_random_resized_crop";
constexpr const char* kCenterCrop = "augment_center_crop";
constexpr const char* kFlip = "augment_flip";
constexpr const char* kImageSize = "augment_image_size";

template <class Parse>
auto read_key(const Metadata& m, const char* key, const std::string& source, Parse parse)
    -> std::optional<decltype(parse(std::string_view()))> {
  const auto it = m.find(key);
  if (it == m.end()) return std::nullopt;
  try {
    return parse(it->second);
  } catch (const std::invalid_argument& e) {
    throw checkpoint::CheckpointError(source, fmt::format("metadata '{}' is '{}': {}", key, it->second, e.what()));
  }
}

}  // namespace

void write_augmentation(Metadata& m, const data::Augmentation& a, const data::CropSize& images,
                        const std::optional<data::ImageSize>& load_size) {
  if (a.random_crop) m[kRandomCrop] = data::format_random_crop(*a.random_crop);
  if (a.random_resized_crop) m[kRandomResizedCrop] = data::format_random_resized_crop(*a.random_resized_crop);
  if (a.center_crop) m[kCenterCrop] = data::format_crop_size(*a.center_crop);
  if (load_size) m[kImageSize] = data::format_image_size(*load_size);
  else if (a.center_crop) m[kImageSize] = data::format_crop_size(images);
  if (a.flip) m[kFlip] = "true";
}

data::Augmentation read_augmentation(const Metadata& m, const std::string& source) {
  data::Augmentation a;
  a.random_crop = read_key(m, kRandomCrop, source, data::parse_random_crop);
  a.random_resized_crop = read_key(m, kRandomResizedCrop, source, data::parse_random_resized_crop);
  a.center_crop = read_key(m, kCenterCrop, source, data::parse_crop_size);
  if (const auto it = m.find(kFlip); it != m.end()) {
    if (it->second != "true")
      throw checkpoint::CheckpointError(source, fmt::format("metadata '{}' is '{}', expected 'true'", kFlip, it->second));
    a.flip = true;
  }
  return a;
}

std::optional<data::ImageSize> read_image_size(const Metadata& m, const std::string& source) {
  return read_key(m, kImageSize, source, data::parse_image_size);
}

}  // namespace resnetc::train
