#pragma once

// Parses the ptxas resource report that NVRTC puts in its log when asked for it
// (CompileRequest::ptxas_verbose): the test suite fails on any kernel that touches local memory,
// since a spill in a generated kernel silently costs far more than it saves.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace resnetc::cuda {

struct FunctionResources {
  std::string name;
  bool entry = false;  // a kernel; the other functions ptxas reports are non-inlined callees
  int registers = 0;   // per thread; reported for entry functions only
  std::uint64_t stack_frame_bytes = 0;
  std::uint64_t spill_store_bytes = 0;
  std::uint64_t spill_load_bytes = 0;
  std::uint64_t lmem_bytes = 0;  // older ptxas reports local memory as "N bytes lmem"

  // Any local memory at all: a stack frame (e.g. a dynamically indexed array), spills or lmem.
  bool uses_local_memory() const noexcept {
    return stack_frame_bytes != 0 || spill_store_bytes != 0 || spill_load_bytes != 0 || lmem_bytes != 0;
  }
};

// One entry per function, in the order ptxas first mentions them; other log lines are ignored.
// An empty result for a ptxas_verbose compile means the report is missing (seen when running
// under compute-sanitizer): a spill check must treat that as a failure, not as "no spills".
std::vector<FunctionResources> parse_ptxas_info(std::string_view log);

}  // namespace resnetc::cuda
