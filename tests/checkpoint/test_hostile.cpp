// Corrupt and hostile files are refused with a CheckpointError naming the file and the
// problem, never a crash, a hang or an out-of-bounds view.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <catch2/catch.hpp>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/checkpoint/reader.h"
#include "test_util.h"

using namespace resnetc::checkpoint;
using resnetc::checkpoint::test::file_image;
using resnetc::checkpoint::test::raw_image;

namespace {

// One well-formed tensor entry: `name` of F32 with `shape`, at [begin, end].
std::string entry(std::string_view name, std::string_view shape, int begin, int end) {
  return fmt::format(R"("{}":{{"dtype":"F32","shape":{},"data_offsets":[{},{}]}})", name, shape,
                     begin, end);
}

// A header of the given tensor entries.
std::string header(std::initializer_list<std::string> entries) {
  return fmt::format("{{{}}}", fmt::join(entries, ","));
}

// A header whose only tensor, 'w', has the given fields.
std::string with_entry(std::string_view fields) { return fmt::format(R"({{"w":{{{}}}}})", fields); }

const std::string kDeep(100000, '[');

struct Hostile {
  std::string what;
  std::vector<std::byte> bytes;
  std::string expected;
};

std::vector<Hostile> hostile_files() {
  const std::string a = entry("a", "[2]", 0, 8);
  return {
      {"empty file", {}, "file is 0 bytes, too short"},
      {"7 bytes", std::vector<std::byte>(7), "file is 7 bytes, too short"},
      {"header longer than the file", raw_image(100, "{}"),
       "header length 100 is larger than the 2 bytes"},
      {"absurd header length", raw_image(1ull << 40, "{}"),
       "header length 1099511627776 is absurd"},
      {"maximal header length", raw_image(~0ull, "{}"), "is absurd"},
      {"torch.save's zip archive", raw_image(0x0000000004034b50ull | (1ull << 60), "{}"),
       "not a safetensors file but a zip archive, as PyTorch's torch.save writes"},
      {"empty header", file_image(""), "expected a header object, found the end of the header"},
      {"header is an array", file_image("[]"), "expected a header object, found an array"},
      {"unterminated object", file_image("{"), "expected a member name, found the end"},
      {"trailing comma", file_image(fmt::format("{{{},}}", a), 8),
       "expected a member name, found '}'"},
      {"missing colon", file_image("{\"a\" 1}"), "expected ':', found a number"},
      {"garbage after header", file_image("{} x"), "expected the end of the header, found 'x'"},
      {"NUL padding", file_image(std::string("{}\0", 3)), "found byte 0x00"},
      {"deep nesting at top", file_image(kDeep), "expected a header object, found an array"},
      {"deep nesting in entry", file_image(fmt::format(R"({{"w":{})", kDeep)),
       "tensor 'w': expected an object"},
      {"deep nesting in shape", file_image(with_entry(fmt::format(R"("shape":{})", kDeep))),
       "expected a non-negative integer dimension, found an array"},
      {"boolean", file_image(with_entry("\"shape\":true")),
       "expected a shape array, found a boolean"},
      {"null", file_image(with_entry("\"dtype\":null")), "expected a dtype string, found null"},
      {"fraction", file_image(with_entry("\"shape\":[2.0]")), "found a number with a fraction"},
      {"exponent", file_image(with_entry("\"shape\":[1e3]")),
       "found a number with a fraction or exponent"},
      {"leading zero", file_image(with_entry("\"shape\":[01]")), "leading zeros"},
      {"integer overflow", file_image(with_entry("\"shape\":[18446744073709551616]")),
       "does not fit in 64 bits"},
      {"bad escape", file_image("{\"a\\x\":1}"), "invalid escape sequence"},
      {"truncated \\u", file_image("{\"a\\u12"), "truncated \\u escape"},
      {"bad hex", file_image("{\"a\\u12g4\":1}"), "invalid hex digit"},
      {"lone high surrogate", file_image("{\"a\\ud800\":1}"), "unpaired high surrogate"},
      {"lone low surrogate", file_image("{\"a\\udc00\":1}"), "unpaired low surrogate"},
      {"raw control character", file_image("{\"a\tb\":1}"), "unescaped control character"},
      {"unterminated string", file_image("{\"abc"), "unterminated string"},
      {"invalid UTF-8", file_image("{\"a\xFF\":1}"), "bad header at byte 11: invalid UTF-8"},
      {"overlong UTF-8", file_image("{\"\xC0\xAF\":1}"), "invalid UTF-8"},
      {"UTF-8 surrogate", file_image("{\"\xED\xA0\x80\":1}"), "invalid UTF-8"},
      {"unknown dtype",
       file_image("{\"w\":{\"dtype\":\"F17\",\"shape\":[],\"data_offsets\":[0,4]}}", 4),
       "tensor 'w': unknown dtype 'F17'"},
      {"negative dimension", file_image(with_entry("\"shape\":[2,-3]")), "found a negative number"},
      {"dimension above INT64_MAX", file_image(with_entry("\"shape\":[9223372036854775808]")),
       "dimension 9223372036854775808 is too large"},
      {"element count overflow", file_image(header({entry("w", "[4294967296,4294967296]", 0, 0)})),
       "tensor 'w': shape [4294967296, 4294967296] is too large to address"},
      {"size mismatch", file_image(header({entry("w", "[2]", 0, 4)}), 4),
       "tensor 'w': data_offsets [0, 4] hold 4 bytes, but shape [2] of F32 needs 8"},
      {"reversed offsets", file_image(header({entry("w", "[2]", 8, 0)}), 8),
       "end before they begin"},
      {"overlap", file_image(header({a, entry("b", "[2]", 4, 12)}), 12),
       "tensor 'b': data_offsets [4, 12] overlap tensor 'a'"},
      {"hole", file_image(header({a, entry("b", "[2]", 12, 20)}), 20),
       "hole of 4 bytes in the data area before tensor 'b'"},
      {"hole at the start", file_image(header({entry("b", "[2]", 4, 12)}), 12),
       "hole of 4 bytes in the data area before tensor 'b'"},
      {"bytes after the last tensor", file_image(header({a}), 12),
       "4 bytes at the end of the data area belong to no tensor"},
      {"past the end of the file", file_image(header({a}), 4),
       "tensor 'a': data_offsets [0, 8] run past the end of the file"},
      {"duplicate tensor", file_image(header({a, a}), 8), "duplicate tensor name 'a'"},
      {"duplicate field", file_image(with_entry("\"dtype\":\"F32\",\"dtype\":\"F32\"")),
       "tensor 'w': duplicate field 'dtype'"},
      {"missing field", file_image(with_entry("\"dtype\":\"F32\",\"data_offsets\":[0,0]")),
       "tensor 'w': missing field 'shape'"},
      {"unknown field", file_image(with_entry("\"dtype\":\"F32\",\"foo\":1")),
       "tensor 'w': unknown field 'foo'"},
      {"three offsets", file_image(with_entry("\"data_offsets\":[0,1,2]")), "more than 2 entries"},
      {"one offset", file_image(with_entry("\"data_offsets\":[0]")), "must be [begin, end]"},
      {"metadata not an object", file_image("{\"__metadata__\":[]}"),
       "expected an object of strings for '__metadata__', found an array"},
      {"metadata value a number", file_image("{\"__metadata__\":{\"epoch\":3}}"),
       "metadata 'epoch': expected a string value, found a number"},
      {"metadata value an object", file_image("{\"__metadata__\":{\"x\":{}}}"),
       "metadata 'x': expected a string value, found an object"},
      {"duplicate metadata key", file_image("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}"),
       "duplicate metadata key 'k'"},
      {"duplicate metadata", file_image("{\"__metadata__\":{},\"__metadata__\":{}}"),
       "duplicate '__metadata__'"},
  };
}

}  // namespace

TEST_CASE("hostile files are refused with a clear CheckpointError", "[checkpoint]") {
  for (const Hostile& h : hostile_files()) {
    INFO(h.what);
    try {
      parse_safetensors(h.bytes, "hostile.safetensors");
      FAIL_CHECK("accepted");
    } catch (const CheckpointError& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).starts_with("hostile.safetensors: "));
      CHECK_THAT(e.problem(), Catch::Contains(h.expected));
    }
  }
}

TEST_CASE("file-level problems name the path and the system error", "[checkpoint]") {
  test::TempDir dir;
  const auto missing = dir.path() / "missing.safetensors";
  REQUIRE_THROWS_WITH(read_safetensors(missing),
                      missing.string() + ": cannot open: No such file or directory");
  REQUIRE_THROWS_WITH(read_safetensors(dir.path()), dir.path().string() + ": it is a directory");
  const auto truncated = dir.path() / "truncated.safetensors";
  test::write_bytes(truncated, std::vector<std::byte>(5));
  REQUIRE_THROWS_WITH(
      read_safetensors(truncated),
      truncated.string() + ": file is 5 bytes, too short for the 8-byte header length");
}
