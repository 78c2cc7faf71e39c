#include "backends/cuda/view_tables.h"

#include <algorithm>

#include "runtime/data/resize.h"

namespace resnetc::codegen::cuda {
namespace {

// The most taps a filter from any side 1..largest to `out` has.
int64_t most_taps(int64_t largest, int64_t out) {
  int taps = 1;
  for (int64_t in = 1; in <= largest; ++in) taps = std::max(taps, data::Resizer(1, in, 1, out).col_filter().taps);
  return taps;
}

void append_padded(const data::Resizer::Filter& f, int64_t taps, std::vector<int32_t>& first,
                   std::vector<int32_t>& weights) {
  first.insert(first.end(), f.first.begin(), f.first.end());
  for (size_t i = 0; i < f.first.size(); ++i) {
    const auto row = f.weights.begin() + static_cast<int64_t>(i) * f.taps;
    weights.insert(weights.end(), row, row + f.taps);
    weights.insert(weights.end(), static_cast<size_t>(taps - f.taps), 0);
  }
}

}  // namespace

ViewShape view_shape(const BatchShape& plain, const data::ImageTransform& transform) {
  ViewShape v{plain, 1};
  if (transform.fixed_size()) {
    const data::CropSize size = transform.view_size();
    const data::Resizer resizer(size.height, size.width, plain.out_height, plain.out_width);
    v.batch.row_taps = resizer.row_filter().taps;
    v.batch.col_taps = resizer.col_filter().taps;
    v.view_rows = size.height + v.batch.row_taps;
  } else {
    v.batch.row_taps = most_taps(plain.in_height, plain.out_height);
    v.batch.col_taps = most_taps(plain.in_width, plain.out_width);
    v.view_rows = plain.in_height + v.batch.row_taps;
  }
  return v;
}

ViewTables view_tables(const ViewShape& shape, std::span<const data::CropSize> sizes) {
  ViewTables t;
  for (const data::CropSize& size : sizes) {
    const data::Resizer resizer(size.height, size.width, shape.batch.out_height, shape.batch.out_width);
    append_padded(resizer.row_filter(), shape.batch.row_taps, t.row_first, t.row_weights);
    append_padded(resizer.col_filter(), shape.batch.col_taps, t.col_first, t.col_weights);
  }
  return t;
}

std::vector<int32_t> view_arguments(std::span<const data::View> views, bool per_image) {
  std::vector<int32_t> out;
  for (size_t b = 0; b < views.size(); ++b)
    out.insert(out.end(), {views[b].top, views[b].left, views[b].flip ? 1 : 0, per_image ? static_cast<int32_t>(b) : 0});
  return out;
}

}  // namespace resnetc::codegen::cuda
