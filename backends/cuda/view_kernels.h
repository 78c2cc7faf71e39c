#pragma once
// The CUDA kernels that assemble an augmented batch on the GPU (docs/data.md, "Augmentation"):
// each image seen through its view (data::View: a crop that may reach into zero padding, and a
// flip), resized to the plan's input bit for bit as data::fill_view_batch does on the host, then
// converted and normalized as batch_kernels.h's. The views are drawn on the host from (seed,
// epoch, index) and are all that crosses the bus, 20 bytes an image; the images never do, nor
// the resize filters: each thread computes its output's filter itself.
//
// Why the filters are the host's bit for bit: data::Resizer builds PIL's bilinear filter in
// double precision (the window's ends and each tap's triangle weight from the scale, the sum of
// the weights, each weight divided by it and rounded to 22-bit fixed point), and the kernels
// repeat those operations in the same order with __dadd_rn, __dsub_rn, __dmul_rn and __ddiv_rn:
// each an IEEE 754 operation rounded to nearest even, which the compiler may not fuse into an
// FMA or reorder, on double values that never flush to zero (only float has a flush-to-zero
// mode), plus truncations to int, comparisons and fabs, which are exact. No transcendental
// function is involved. The host compiles resize.cpp with -ffp-contract=off, so it rounds after
// every operation as well: the same operations on the same doubles give the same doubles, hence
// the same integer weights, and the rest of the resize is integer arithmetic on both sides.
//
// Per batch position b: views[5b .. 5b+4] = {top, left, flip (0 or 1), height, width} of its view.
//   rc_view_horizontal(scratch, images, indices, views)
//       scratch [B, C, VIEW_ROWS, OUT_W] uint8: row y of the view's horizontal pass (pixels past
//       the image read as 0)
//   rc_view_vertical(input, scratch, views)
//       input [B, C, OUT_H, OUT_W] float: the vertical pass, column x read from OUT_W-1-x when
//       flipped, / 255, normalized
#include <cstdint>
#include <string>

#include "backends/cuda/batch_kernels.h"

namespace resnetc::codegen::cuda {

// The ints a view takes in the kernels' views argument.
inline constexpr int kViewInts = 5;

struct ViewShape {
  // batch, sizes, channels and normalization as for the plain kernels (their taps unused: the
  // view kernels compute each filter's).
  BatchShape batch;
  // Rows of each plane's horizontal pass: the tallest view's height.
  int64_t view_rows = 1;
};

std::string view_kernels_source(const ViewShape& shape);

unsigned view_horizontal_blocks(const ViewShape& shape);
unsigned view_vertical_blocks(const ViewShape& shape);

}  // namespace resnetc::codegen::cuda
