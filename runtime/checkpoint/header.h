#pragma once
// The safetensors header: an 8-byte little-endian length, then that many bytes of JSON
// naming each tensor's dtype, shape and byte range in the data area that follows, plus an
// optional "__metadata__" object of strings. Internal to the reader and the writer.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/checkpoint/dtype.h"
#include "runtime/checkpoint/metadata.h"

namespace resnetc::checkpoint {

inline constexpr size_t kLengthPrefixBytes = 8;
// Same cap as the reference implementation: no real header is near it, and it stops a
// hostile length from making us allocate or scan gigabytes.
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// Padding the header keeps the data area, and so every tensor, 8-byte aligned in the file.
inline constexpr size_t kHeaderAlignment = 8;
inline constexpr std::string_view kMetadataKey = "__metadata__";

struct HeaderEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // data_offsets, relative to the first byte after the header
  uint64_t end = 0;
};

struct Header {
  std::vector<HeaderEntry> entries;  // in the order the JSON lists them
  Metadata metadata;
};

std::array<std::byte, kLengthPrefixBytes> encode_length(uint64_t length);
uint64_t decode_length(std::span<const std::byte, kLengthPrefixBytes> bytes);

// Throws JsonError, with the offset in `json`, for malformed JSON and for JSON that is not a
// header: unknown dtype, duplicate names or fields, non-string metadata, and so on. Byte
// ranges are not checked here; that needs the file size.
Header parse_header(std::string_view json);

// Compact JSON, space-padded to kHeaderAlignment. Names and metadata must be valid UTF-8.
// Appends `text` as a JSON string literal (quotes and escapes included).
void append_json_string(std::string& out, std::string_view text);

std::string encode_header(std::span<const HeaderEntry> entries, const Metadata& metadata);

}  // namespace resnetc::checkpoint
