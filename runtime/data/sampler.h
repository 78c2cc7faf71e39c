// Epoch ordering and batch assembly for training.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "runtime/data/dataset.h"
#include "runtime/data/resize.h"

namespace resnetc::data {

// A permutation of 0..n-1 that depends only on (seed, epoch): Fisher-Yates driven by
// std::mt19937_64 (whose output the standard fixes) and our own unbiased bounded draw,
// so every platform and every resumed run sees the same order.
std::vector<uint32_t> epoch_order(uint64_t seed, int epoch, uint32_t n);

// Writes images split[indices[i]], resized by `resizer`, to images_out [n,1,OH,OW] and
// their labels to labels_out [n]. Throws std::invalid_argument if the resizer's input
// size differs from the split's images, std::out_of_range for an index past the split.
void fill_batch(const Split& split, std::span<const uint32_t> indices, const Resizer& resizer, float* images_out,
                int32_t* labels_out);

}  // namespace resnetc::data
