#include "runtime/checkpoint/header.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <limits>
#include <set>
#include <utility>

#include "runtime/checkpoint/json_reader.h"

namespace resnetc::checkpoint {
namespace {

// Prefixes errors from `read` with what was being read, keeping the offset.
template <class Read>
auto in_context(std::string_view what, const std::string& name, Read&& read) {
  try {
    return read();
  } catch (const JsonError& e) {
    throw JsonError(e.offset(), fmt::format("{} '{}': {}", what, name, e.what()));
  }
}

void mark_seen(JsonReader& json, bool& seen, const std::string& field) {
  if (seen) json.fail(fmt::format("duplicate field '{}'", field));
  seen = true;
}

HeaderEntry parse_entry(JsonReader& json, const std::string& name) {
  HeaderEntry entry;
  entry.name = name;
  bool seen_dtype = false;
  bool seen_shape = false;
  bool seen_offsets = false;
  json.read_object("an object with dtype, shape and data_offsets", [&](const std::string& field) {
    if (field == "dtype") {
      mark_seen(json, seen_dtype, field);
      const std::string dtype = json.read_string("a dtype string");
      const auto parsed = dtype_from_name(dtype);
      if (!parsed) json.fail(fmt::format("unknown dtype '{}'", dtype));
      entry.dtype = *parsed;
    } else if (field == "shape") {
      mark_seen(json, seen_shape, field);
      json.read_array("a shape array", [&] {
        const uint64_t dim = json.read_uint("a non-negative integer dimension");
        if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          json.fail(fmt::format("dimension {} is too large", dim));
        }
        entry.shape.push_back(static_cast<int64_t>(dim));
      });
    } else if (field == "data_offsets") {
      mark_seen(json, seen_offsets, field);
      std::vector<uint64_t> offsets;
      json.read_array("a [begin, end] array", [&] {
        if (offsets.size() == 2) json.fail("data_offsets has more than 2 entries");
        offsets.push_back(json.read_uint("a non-negative integer offset"));
      });
      if (offsets.size() != 2) json.fail("data_offsets must be [begin, end]");
      entry.begin = offsets[0];
      entry.end = offsets[1];
    } else {
      json.fail(fmt::format("unknown field '{}'", field));
    }
  });
  if (!seen_dtype) json.fail("missing field 'dtype'");
  if (!seen_shape) json.fail("missing field 'shape'");
  if (!seen_offsets) json.fail("missing field 'data_offsets'");
  return entry;
}

Metadata parse_metadata(JsonReader& json) {
  Metadata metadata;
  json.read_object("an object of strings for '__metadata__'", [&](const std::string& key) {
    std::string value =
        in_context("metadata", key, [&] { return json.read_string("a string value"); });
    if (!metadata.emplace(key, std::move(value)).second) {
      json.fail(fmt::format("duplicate metadata key '{}'", key));
    }
  });
  return metadata;
}


}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

std::array<std::byte, kLengthPrefixBytes> encode_length(uint64_t length) {
  std::array<std::byte, kLengthPrefixBytes> bytes{};
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>(length >> (8 * i));
  return bytes;
}

uint64_t decode_length(std::span<const std::byte, kLengthPrefixBytes> bytes) {
  uint64_t length = 0;
  for (size_t i = 0; i < bytes.size(); ++i)
    length |= std::to_integer<uint64_t>(bytes[i]) << (8 * i);
  return length;
}

Header parse_header(std::string_view json_text) {
  JsonReader json(json_text);
  Header header;
  std::set<std::string, std::less<>> names;
  bool seen_metadata = false;
  json.read_object("a header object", [&](const std::string& key) {
    if (key == kMetadataKey) {
      if (seen_metadata) json.fail("duplicate '__metadata__'");
      seen_metadata = true;
      header.metadata = parse_metadata(json);
      return;
    }
    if (!names.insert(key).second) json.fail(fmt::format("duplicate tensor name '{}'", key));
    header.entries.push_back(in_context("tensor", key, [&] { return parse_entry(json, key); }));
  });
  json.expect_end();
  return header;
}

std::string encode_header(std::span<const HeaderEntry> entries, const Metadata& metadata) {
  std::string out = "{";
  if (!metadata.empty()) {
    append_json_string(out, kMetadataKey);
    out += ":{";
    for (const auto& [key, value] : metadata) {
      append_json_string(out, key);
      out.push_back(':');
      append_json_string(out, value);
      out.push_back(',');
    }
    out.back() = '}';
    out.push_back(',');
  }
  for (const HeaderEntry& entry : entries) {
    append_json_string(out, entry.name);
    out +=
        fmt::format(R"(:{{"dtype":"{}","shape":[{}],"data_offsets":[{},{}]}},)",
                    dtype_name(entry.dtype), fmt::join(entry.shape, ","), entry.begin, entry.end);
  }
  if (out.back() == ',') out.pop_back();
  out.push_back('}');
  out.append((kHeaderAlignment - out.size() % kHeaderAlignment) % kHeaderAlignment, ' ');
  return out;
}

}  // namespace resnetc::checkpoint
