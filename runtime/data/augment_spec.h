// What a recipe asks of its images (docs/data.md, "Augmentation"): the transforms and their
// parameters, and their text, one grammar for the flags, the `train` section and the checkpoint.
// Kept apart from the loaders so that the language can check a `train` section with it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace resnetc::data {

struct CropSize {
  int64_t height = 0, width = 0;
  bool operator==(const CropSize&) const = default;
};

// torchvision's RandomCrop(size, padding): `padding` zero pixels on every side, then a crop.
struct RandomCrop {
  CropSize size;
  int64_t padding = 0;
  bool operator==(const RandomCrop&) const = default;
};

// torchvision's RandomResizedCrop(size, scale, ratio), with its defaults.
struct RandomResizedCrop {
  CropSize size;
  double scale_min = 0.08, scale_max = 1.0;
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
  bool operator==(const RandomResizedCrop&) const = default;
};

// The size a folder's images are kept at in memory, each resized once as it is read
// (--image-size): "N" is torchvision's Resize(N) then CenterCrop(N) — the shorter side to N,
// keeping the aspect ratio, then the center N x N — so that images of any aspect ratio are kept
// at one size; "HxW" is Resize((H, W)), every image to exactly H x W.
struct ImageSize {
  CropSize size;              // as kept: N x N, or H x W
  bool shorter_side = false;  // "N": resize the shorter side, then center crop
  bool operator==(const ImageSize&) const = default;
};

struct Augmentation {
  std::optional<RandomCrop> random_crop;
  std::optional<RandomResizedCrop> random_resized_crop;
  std::optional<CropSize> center_crop;  // evaluation's view (and training's when no random crop)
  bool flip = false;                    // RandomHorizontalFlip(p=0.5)
  bool empty() const { return !random_crop && !random_resized_crop && !center_crop && !flip; }
  bool operator==(const Augmentation&) const = default;
};

// Each parser throws std::invalid_argument saying what it expected; the caller names the option.
// "N" (N x N) or "HxW", each side 1..32768.
CropSize parse_crop_size(std::string_view text);
// "SIZE[,padding=P]", P 0..32768.
RandomCrop parse_random_crop(std::string_view text);
// "SIZE[,scale=A:B][,ratio=C:D]": 0 < A <= B <= 1, 0 < C <= D.
RandomResizedCrop parse_random_resized_crop(std::string_view text);
// "N" (shorter side, then center crop) or "HxW" (exact), each side 1..32768.
ImageSize parse_image_size(std::string_view text);

// The text each parser reads back to the same value (every digit of the ranges kept).
std::string format_crop_size(const CropSize& size);
std::string format_random_crop(const RandomCrop& crop);
std::string format_random_resized_crop(const RandomResizedCrop& crop);
std::string format_image_size(const ImageSize& size);

// For messages: "random crop 32x32,padding=4, flip"; "none" when empty.
std::string describe(const Augmentation& augmentation);

}  // namespace resnetc::data
