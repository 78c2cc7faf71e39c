#pragma once
// The CUDA kernels that assemble a training batch on the GPU from the uint8 data set kept in
// GPU memory: gather the batch's images by index, resize them bit-for-bit like the host's
// data::Resizer (PIL's bilinear filter in 22-bit fixed point, a horizontal then a vertical
// pass, each rounded back to uint8), convert to [0,1] floats (ToTensor) and gather the labels.
// Only the indices of a batch cross the bus.
//
// Kernels (every size a constant of the source), in launch order:
//   rc_batch_horizontal(scratch, images, indices, col_first, col_weights)
//       scratch [B, C, IN_H, OUT_W] uint8 = the horizontal pass of images[indices[b]] (each [C, IN_H, IN_W])
//   rc_batch_vertical(input, scratch, row_first, row_weights)
//       input [B, C, OUT_H, OUT_W] float = the vertical pass of scratch, / 255, then (with a
//       normalization) - mean[c], / std[c] (data::normalize_value; the values are constants)
//   rc_batch_labels(labels_out, labels, indices)
//       labels_out [B] int32 = labels[indices[b]]
// and, once per epoch, before them:
//   rc_batch_shuffle(order, keys, stream)     one block of kShuffleThreads threads
//       order [N] uint32 = data::epoch_order for the epoch whose order_stream is `stream`:
//       the same keys (data::order_key) sorted by a bitonic network over keys [P], P the
//       power of two at or above N (padding keys sort last). The batch kernels then take
//       `order + first` as their indices, so nothing crosses the bus per batch.
// An axis whose size does not change takes an identity filter (1 tap, weight 2^22), which
// reproduces the host's skipped pass exactly.
#include <cstdint>
#include <string>
#include <vector>

namespace resnetc::codegen::cuda {

struct BatchShape {
  int64_t batch = 1;
  int64_t in_height = 1, in_width = 1;    // the data set's images
  int64_t out_height = 1, out_width = 1;  // the plan's input
  int64_t row_taps = 1, col_taps = 1;     // of the vertical and horizontal filters
  int64_t examples = 1;                   // in the split: what rc_batch_shuffle orders
  int64_t channels = 1;                   // planes an image, each resized alone
  std::vector<float> mean{}, std{};       // data::Normalization's, one a channel; empty: none
};

inline constexpr unsigned kBatchThreads = 256;
inline constexpr unsigned kShuffleThreads = 1024;

// The sort's length P: the power of two at or above shape.examples.
int64_t shuffle_keys(const BatchShape& shape);

// One translation unit with the four kernels (and their emulation entry points).
std::string batch_kernels_source(const BatchShape& shape);

// The vertical pass's store of the pixel `rc_clip8(acc)` into input[i] (`plane` in scope): ToTensor's
// division, then shape's normalization if any (view_kernels.h stores alike).
std::string batch_store_input(const BatchShape& shape);

// The blocks each kernel launches (kBatchThreads threads each): one thread per output element.
unsigned batch_horizontal_blocks(const BatchShape& shape);
unsigned batch_vertical_blocks(const BatchShape& shape);
unsigned batch_labels_blocks(const BatchShape& shape);

}  // namespace resnetc::codegen::cuda
