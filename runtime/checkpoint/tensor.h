#pragma once
// A named tensor as it sits in a checkpoint: element type, shape and a view of its bytes.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "runtime/checkpoint/dtype.h"

namespace resnetc::checkpoint {

struct Tensor {
  std::string name;  // layer name, e.g. "stage2.block0.conv1.weight"
  DType dtype = DType::F32;
  std::vector<int64_t> shape;       // row-major, outermost first; {} is a scalar
  std::span<const std::byte> data;  // little-endian elements; not owned
};

// Bytes that `shape` elements of `dtype` occupy; nullopt if a dimension is negative or the
// count does not fit in 64 bits (a hostile header can claim any shape).
std::optional<uint64_t> byte_size(DType dtype, std::span<const int64_t> shape);

// "[64, 64, 3, 3]", for error messages.
std::string format_shape(std::span<const int64_t> shape);

}  // namespace resnetc::checkpoint
