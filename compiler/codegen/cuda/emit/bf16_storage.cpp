// bf16 activations in the CUDA kernels (issue 14): a plan buffer of dtype bf16 holds bfloat16
// bits, two bytes an element, where that halves the bytes a kernel moves. A kernel takes such a
// buffer as `unsigned short*` and converts only where it loads and stores an element, so what
// it computes between the two is the float32 kernel's: a load widens exactly, a store rounds to
// nearest with ties to even as the CPU backend's round_to_bf16 does. The bf16 mma.sync GEMMs
// use a loaded pair's bits as their operand word, where they would round float32 operands.
#include <fmt/format.h>

#include "compiler/codegen/cuda/emit/emitter.h"

namespace resnetc::codegen::cuda::detail {

bool is_bf16(const Emitter& e, int buffer) {
  return buffer != kWorkspace && e.plan().buffer(buffer).dtype == ir::DType::BF16;
}

ParamType in_param(const Emitter& e, int buffer) {
  return is_bf16(e, buffer) ? ParamType::InBf16 : ParamType::In;
}

std::string widened(const Emitter& e, int buffer, const std::string& element) {
  return is_bf16(e, buffer) ? fmt::format("rc_bf16_widen({})", element) : element;
}

// Plain C++ on the integer bits, so the emulator runs this very text. Inline, not static, as the
// other shared helpers: a unit without a bf16 buffer must not warn that they go unused.
std::string_view bf16_storage_helpers() {
  return R"(// bf16 activations (plan buffers of 16-bit elements): a load widens exactly (the bits are a
// float32's high half); a store rounds to nearest with ties to even, denormals kept, a NaN the
// quiet 0x7fc0.
__device__ __forceinline__ float rc_bf16_widen(unsigned short b) {
  return __uint_as_float((unsigned)b << 16);
}
__device__ __forceinline__ unsigned short rc_bf16_round(float x) {
  const unsigned u = __float_as_uint(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)0x7fc0u;
  return (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
// A bf16 buffer indexed as floats: the GEMMs gather their operands through it.
struct rc_bf16_view {
  const unsigned short* __restrict__ p;
  __device__ __forceinline__ float operator[](long long i) const { return rc_bf16_widen(p[i]); }
};
// Two widened bf16 values as one mma.sync operand word (lo in the low half): their bits, no rounding.
__device__ __forceinline__ unsigned rc_bf16_join(float lo, float hi) {
  return __float_as_uint(lo) >> 16 | (__float_as_uint(hi) & 0xffff0000u);
}

)";
}

}  // namespace resnetc::codegen::cuda::detail
