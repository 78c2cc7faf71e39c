// Where a folder's image lands when it is resized as it is read (--image-size, augment_spec.h's
// ImageSize): the size it is resized to and the part of that kept, as torchvision computes them.
#pragma once

#include <cstdint>

#include "runtime/data/augment_spec.h"

namespace resnetc::data {

// The image is resized (PIL's bilinear filter) to resized_height x resized_width, then rows
// top .. top + kept height - 1 and columns left .. left + kept width - 1 are kept (the kept size is
// ImageSize::size).
struct LoadGeometry {
  int64_t resized_height = 0, resized_width = 0, top = 0, left = 0;
  bool operator==(const LoadGeometry&) const = default;
};

// For an image of height x width. "HxW": resized to H x W, all kept. "N": torchvision's Resize(N)
// (the shorter side to N, the longer to int(N * longer / shorter), truncated) then CenterCrop(N)
// (offsets int(round((side - N) / 2.0)), ties to even).
LoadGeometry load_geometry(const ImageSize& size, int64_t height, int64_t width);

}  // namespace resnetc::data
