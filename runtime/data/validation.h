// A validation set carved out of a training set, the same for a given seed on every machine.
#pragma once

#include <cstdint>

#include "runtime/data/dataset.h"

namespace resnetc::data {

struct CarvedSplits {
  Split train, validation;
};

// Moves round(fraction * train.count) images, chosen by a permutation drawn from `seed`, into
// the validation split; both keep the original order of their images. Throws DataError unless
// 0 < fraction < 1 leaves at least one image on each side.
CarvedSplits carve_validation(const Split& train, double fraction, uint64_t seed);

}  // namespace resnetc::data
