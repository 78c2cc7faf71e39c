#include "backends/cuda/view_arguments.h"

namespace resnetc::codegen::cuda {

ViewShape view_shape(const BatchShape& plain, const data::ImageTransform& transform) {
  return {plain, transform.fixed_size() ? transform.view_size().height : plain.in_height};
}

std::vector<int32_t> view_arguments(std::span<const data::View> views) {
  std::vector<int32_t> out;
  for (const data::View& v : views)
    out.insert(out.end(), {v.top, v.left, v.flip ? 1 : 0, v.height, v.width});
  return out;
}

}  // namespace resnetc::codegen::cuda
