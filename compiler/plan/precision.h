#pragma once
// The arithmetic a plan's contractions (convolutions, fully connected layers) run in: a
// property of the plan, chosen once (--precision, or `precision` in a train section), that
// every backend follows. docs/precision.md says what runs in which format.
#include <cstdint>
#include <optional>
#include <string_view>

namespace resnetc::plan {

enum class Precision : uint8_t {
  Fp32,  // float32 operands and accumulation: the CPU's default
  Tf32,  // the GPU's tensor cores on float32 data (10-bit mantissa products): the GPU's default
  Bf16,  // bfloat16 operands (round to nearest even), float32 accumulation and outputs
};

std::string_view precision_name(Precision p);        // "fp32", "tf32", "bf16"
std::optional<Precision> parse_precision(std::string_view name);

}  // namespace resnetc::plan
