// Epoch ordering and batch assembly for training.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "runtime/data/dataset.h"
#include "runtime/data/normalize.h"
#include "runtime/data/resize.h"

namespace resnetc::data {

// A permutation of 0..n-1 that depends only on (seed, epoch), so every platform and every
// resumed run sees the same order. It is a sort by random keys, not Fisher-Yates, because a
// sort parallelises: the GPU draws the same order with a bitonic sort
// (backends/cuda/batch_kernels.h) and the two are tested equal.
//
// Item i's key is SplitMix64's i-th output for the epoch's stream, with its low
// order_index_bits(n) bits replaced by i: keys are then distinct (ties between the random
// parts, about n^2 / 2^(65 - bits) pairs per epoch, keep index order) and the sorted keys'
// low bits are the order.
std::vector<uint32_t> epoch_order(uint64_t seed, int epoch, uint32_t n);

// The SplitMix64 state the epoch's keys are drawn from.
uint64_t order_stream(uint64_t seed, int epoch);
// Bits that hold an index below n: 0 for n <= 1, else the bit width of n - 1.
int order_index_bits(uint32_t n);
// Item i's sort key (see epoch_order).
uint64_t order_key(uint64_t stream, uint32_t i, int index_bits);

// Writes images split[indices[i]], each channel resized by `resizer` (and normalized by
// `normalization` unless it is empty), to images_out [n,C,OH,OW] (C = split.channels) and their
// labels to labels_out [n]. Throws std::invalid_argument if the resizer's input size differs from
// the split's images or the normalization's channels from the split's, std::out_of_range for an
// index past the split.
void fill_batch(const Split& split, std::span<const uint32_t> indices, const Resizer& resizer, float* images_out,
                int32_t* labels_out, const Normalization& normalization = {});

}  // namespace resnetc::data
