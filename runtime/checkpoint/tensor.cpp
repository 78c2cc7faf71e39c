#include "runtime/checkpoint/tensor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace resnetc::checkpoint {

std::optional<uint64_t> byte_size(DType dtype, std::span<const int64_t> shape) {
  uint64_t bytes = dtype_size(dtype);
  for (int64_t dim : shape) {
    if (dim < 0) return std::nullopt;
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes)) return std::nullopt;
  }
  return bytes;
}

std::string format_shape(std::span<const int64_t> shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

}  // namespace resnetc::checkpoint
