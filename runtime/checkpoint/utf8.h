#pragma once
// UTF-8 validation: safetensors headers must be UTF-8, and the writer must not produce a
// header that its own reader (or Python's) would refuse.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace resnetc::checkpoint {

// Offset of the first byte that does not start a well-formed UTF-8 sequence (overlong
// forms, surrogates and code points past U+10FFFF are ill-formed), or nullopt.
std::optional<size_t> find_invalid_utf8(std::string_view text);

// Appends the UTF-8 encoding of a code point that is not a surrogate and at most U+10FFFF.
void append_utf8(std::string& out, uint32_t code_point);

}  // namespace resnetc::checkpoint
