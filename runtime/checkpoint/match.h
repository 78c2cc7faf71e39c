#pragma once
// Refusing a checkpoint that was written for a different model, before any weights are
// loaded, with a message that names the first tensor that differs.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "runtime/checkpoint/checkpoint.h"
#include "runtime/checkpoint/dtype.h"
#include "runtime/checkpoint/error.h"

namespace resnetc::checkpoint {

struct TensorSpec {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
};

// Throws CheckpointError for the first expected tensor (in `expected` order) that is
// missing or has another dtype or shape, else for the first checkpoint tensor (in file
// order) that `expected` does not list.
void check_matches(const Checkpoint& checkpoint, std::span<const TensorSpec> expected);

}  // namespace resnetc::checkpoint
