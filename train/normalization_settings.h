#pragma once
// The normalization a run asks for (docs/data.md, "Normalization"): the flags' (--mean/--std,
// --normalize) when given, else the .net file's train section's (`mean`/`std`, `normalize auto`).
#include <cstdint>

#include "dsl/training_settings.h"
#include "runtime/data/normalize.h"

namespace resnetc::train {

struct NormalizationRequest {
  data::Normalization values;  // given values (empty: none), one a channel or one for all
  bool compute = false;        // the training set's statistics instead
};

// `flags`, `compute_flag`: --mean/--std and --normalize (either replaces the whole file's
// normalization). The file's values are read here, widened to `channels` (the network's input
// channels) when one is given for all; a value that is not a number (a std not above 0), or a
// count neither 1 nor `channels`, is a CompileError at its setting.
NormalizationRequest requested_normalization(const dsl::TrainingSettings& file, const data::Normalization& flags,
                                             bool compute_flag, int64_t channels);

}  // namespace resnetc::train
