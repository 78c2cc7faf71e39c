#pragma once
// Element types, spelled and sized exactly as safetensors defines them.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace resnetc::checkpoint {

enum class DType : uint8_t {
  BOOL,
  U8,
  I8,
  F8_E5M2,
  F8_E4M3,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  I64,
  U64,
  F64,
};

std::string_view dtype_name(DType dtype);  // "F32", as written in the header
size_t dtype_size(DType dtype);            // bytes per element
std::optional<DType> dtype_from_name(std::string_view name);

}  // namespace resnetc::checkpoint
