#pragma once
// bfloat16 rounding as the backends store a bf16 buffer (ir::DType::BF16): the double rounded
// to float, then to the nearest bfloat16, ties to even; a NaN stays a NaN, denormals are kept.
#include <cmath>
#include <cstdint>
#include <cstring>

namespace resnetc::reference {

inline double round_to_bf16(double x) {
  const float f = static_cast<float>(x);
  if (std::isnan(f)) return x;
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
  float r;
  std::memcpy(&r, &bits, 4);
  return r;
}

}  // namespace resnetc::reference
