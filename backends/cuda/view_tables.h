#pragma once
// The host's side of the view kernels (view_kernels.h): their shape for a split's views, and
// the arguments a batch uploads, the views and their filter tables, in the layout the kernels read.
#include <cstdint>
#include <span>
#include <vector>

#include "backends/cuda/view_kernels.h"
#include "runtime/data/augment.h"

namespace resnetc::codegen::cuda {

// The view kernels' shape for images `plain` describes seen through `transform`: taps of the
// fixed view size's filters, or the most any view size up to the image's needs (random-resized
// crops, a table per image).
ViewShape view_shape(const BatchShape& plain, const data::ImageTransform& transform);

struct ViewTables {
  std::vector<int32_t> row_first, row_weights, col_first, col_weights;
};

// data::Resizer's filters from each size to shape's input, one table each, zero-padded to
// shape's taps.
ViewTables view_tables(const ViewShape& shape, std::span<const data::CropSize> sizes);

// {top, left, flip, table} a view: table b for view b when `per_image`, else 0.
std::vector<int32_t> view_arguments(std::span<const data::View> views, bool per_image);

}  // namespace resnetc::codegen::cuda
