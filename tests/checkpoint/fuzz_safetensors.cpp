// libFuzzer entry point: any byte string must either parse into tensors whose views lie
// inside the input, or be refused with CheckpointError; nothing else may escape. What
// parses must also survive the writer's header encoding unchanged.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/checkpoint/header.h"
#include "runtime/checkpoint/match.h"
#include "runtime/checkpoint/reader.h"

using namespace resnetc::checkpoint;

namespace {

void check_header_round_trip(const Checkpoint& checkpoint) {
  std::vector<HeaderEntry> entries;
  uint64_t offset = 0;
  for (const Tensor& t : checkpoint.tensors()) {
    entries.push_back({t.name, t.dtype, t.shape, offset, offset + t.data.size()});
    offset += t.data.size();
  }
  const Header again = parse_header(encode_header(entries, checkpoint.metadata()));
  if (again.metadata != checkpoint.metadata() || again.entries.size() != entries.size()) {
    __builtin_trap();
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    const HeaderEntry& a = entries[i];
    const HeaderEntry& b = again.entries[i];
    if (a.name != b.name || a.dtype != b.dtype || a.shape != b.shape || a.begin != b.begin ||
        a.end != b.end) {
      __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  try {
    const Checkpoint checkpoint = parse_safetensors(bytes);
    // Touch every viewed byte so that AddressSanitizer sees any view outside the input.
    volatile unsigned sum = 0;
    for (const Tensor& tensor : checkpoint.tensors()) {
      for (const std::byte b : tensor.data) sum = sum + std::to_integer<unsigned>(b);
    }
    check_header_round_trip(checkpoint);
    const TensorSpec spec{
        .name = "stage1.block0.conv1.weight", .dtype = DType::F32, .shape = {64, 64, 3, 3}};
    check_matches(checkpoint, std::span(&spec, 1));
  } catch (const CheckpointError&) {
  }
  return 0;
}
