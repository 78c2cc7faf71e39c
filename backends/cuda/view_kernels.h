#pragma once
// The CUDA kernels that assemble an augmented batch on the GPU (docs/data.md, "Augmentation"):
// each image seen through its view (data::View: a crop that may reach into zero padding, and a
// flip), resized to the plan's input bit for bit as data::fill_view_batch does on the host, then
// converted and normalized as batch_kernels.h's. The views are drawn on the host from (seed,
// epoch, index) and cross the bus, 16 bytes an image; the images never do. The labels and the
// epoch's order come from batch_kernels.h's rc_batch_labels and rc_batch_shuffle.
//
// Per batch position b: views[4b .. 4b+3] = {top, left, flip (0 or 1), table}, `table` choosing
// the filters of its view's size: col_first [T, OUT_W], col_weights [T, OUT_W, COL_TAPS],
// row_first [T, OUT_H], row_weights [T, OUT_H, ROW_TAPS] (data::Resizer's filters for view
// size -> input size, zero-padded to the common tap counts).
//   rc_view_horizontal(scratch, images, indices, views, col_first, col_weights)
//       scratch [B, C, VIEW_ROWS, OUT_W] uint8: row y of the view's horizontal pass (pixels past
//       the image read as 0)
//   rc_view_vertical(input, scratch, views, row_first, row_weights)
//       input [B, C, OUT_H, OUT_W] float: the vertical pass, column x read from OUT_W-1-x when
//       flipped, / 255, normalized
#include <cstdint>
#include <string>

#include "backends/cuda/batch_kernels.h"

namespace resnetc::codegen::cuda {

struct ViewShape {
  // batch, sizes, channels and normalization as for the plain kernels; row_taps and col_taps:
  // the most any view's filter has (every table is padded to them).
  BatchShape batch;
  // Rows of each plane's horizontal pass: the tallest view's height plus row_taps, so the
  // vertical pass's padded taps stay inside the plane.
  int64_t view_rows = 1;
};

std::string view_kernels_source(const ViewShape& shape);

unsigned view_horizontal_blocks(const ViewShape& shape);
unsigned view_vertical_blocks(const ViewShape& shape);

}  // namespace resnetc::codegen::cuda
