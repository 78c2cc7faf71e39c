#pragma once

// Turns an NVRTC log into a message that quotes the generated source at each error, since the
// source is produced by resnetc's code generator and exists nowhere on disk.

#include <string>
#include <string_view>

namespace resnetc::cuda {

// For each distinct "<program_name>(LINE): error" (or "catastrophic error") in `log`, the source
// line with its number and two lines of context on each side, the offending line marked ">".
// Empty when the log names no line.
std::string quote_error_lines(std::string_view log, std::string_view program_name, std::string_view source);

}  // namespace resnetc::cuda
