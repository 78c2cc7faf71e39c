#pragma once
// The host's side of the view kernels (view_kernels.h): their shape for a split's views, and
// what a batch uploads, its views, in the layout the kernels read.
#include <cstdint>
#include <span>
#include <vector>

#include "backends/cuda/view_kernels.h"
#include "runtime/data/augment.h"

namespace resnetc::codegen::cuda {

// The view kernels' shape for images `plain` describes seen through `transform`: rows for the
// fixed view size's height, or for the image's (random-resized crops, of any size up to it).
ViewShape view_shape(const BatchShape& plain, const data::ImageTransform& transform);

// {top, left, flip, height, width} a view.
std::vector<int32_t> view_arguments(std::span<const data::View> views);

}  // namespace resnetc::codegen::cuda
