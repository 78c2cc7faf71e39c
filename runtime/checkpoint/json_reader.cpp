#include "runtime/checkpoint/json_reader.h"

#include <fmt/format.h>

#include <limits>

#include "runtime/checkpoint/utf8.h"

namespace resnetc::checkpoint {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

JsonReader::JsonReader(std::string_view text) : text_(text) {
  if (const auto bad = find_invalid_utf8(text)) {
    pos_ = *bad;
    fail("invalid UTF-8");
  }
}

void JsonReader::fail(const std::string& message) const { throw JsonError(pos_, message); }

void JsonReader::skip_whitespace() {
  while (pos_ < text_.size()) {
    const char c = text_[pos_];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
    ++pos_;
  }
}

bool JsonReader::consume(char c) {
  skip_whitespace();
  if (pos_ < text_.size() && text_[pos_] == c) {
    ++pos_;
    return true;
  }
  return false;
}

void JsonReader::expect(char c, std::string_view expected) {
  if (!consume(c)) fail(fmt::format("expected {}, found {}", expected, describe_next()));
}

// Names what comes next in terms a user can act on, e.g. "a negative number".
std::string JsonReader::describe_next() const {
  if (pos_ >= text_.size()) return "the end of the header";
  const char c = text_[pos_];
  switch (c) {
    case '{':
      return "an object";
    case '[':
      return "an array";
    case '"':
      return "a string";
    case '-':
      return "a negative number";
    case 't':
    case 'f':
      return "a boolean";
    case 'n':
      return "null";
    default:
      break;
  }
  if (is_digit(c)) return "a number";
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x20 && byte < 0x7F) return fmt::format("'{}'", c);
  return fmt::format("byte 0x{:02X}", byte);
}

std::string JsonReader::read_string(std::string_view expected) {
  expect('"', expected);
  std::string out;
  while (true) {
    if (pos_ >= text_.size()) fail("unterminated string");
    const char c = text_[pos_];
    if (c == '"') {
      ++pos_;
      return out;
    }
    if (static_cast<unsigned char>(c) < 0x20) fail("unescaped control character in string");
    ++pos_;
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (pos_ >= text_.size()) fail("unterminated string");
    const char escape = text_[pos_++];
    switch (escape) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '/':
        out.push_back('/');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u':
        append_utf8(out, read_escaped_code_point());
        break;
      default:
        --pos_;
        fail("invalid escape sequence in string");
    }
  }
}

uint32_t JsonReader::read_hex4() {
  if (text_.size() - pos_ < 4) fail("truncated \\u escape");
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    const int digit = hex_value(text_[pos_]);
    if (digit < 0) fail("invalid hex digit in \\u escape");
    value = value * 16 + static_cast<uint32_t>(digit);
    ++pos_;
  }
  return value;
}

// After "\u": UTF-16 code units, where a surrogate is only valid as a high-low pair.
uint32_t JsonReader::read_escaped_code_point() {
  const uint32_t unit = read_hex4();
  if (unit >= 0xDC00 && unit <= 0xDFFF) fail("unpaired low surrogate in \\u escape");
  if (unit < 0xD800 || unit > 0xDBFF) return unit;
  if (text_.substr(pos_, 2) != "\\u") fail("unpaired high surrogate in \\u escape");
  pos_ += 2;
  const uint32_t low = read_hex4();
  if (low < 0xDC00 || low > 0xDFFF) fail("unpaired high surrogate in \\u escape");
  return 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
}

uint64_t JsonReader::read_uint(std::string_view expected) {
  skip_whitespace();
  if (pos_ >= text_.size() || !is_digit(text_[pos_])) {
    fail(fmt::format("expected {}, found {}", expected, describe_next()));
  }
  if (text_[pos_] == '0' && pos_ + 1 < text_.size() && is_digit(text_[pos_ + 1])) {
    fail("leading zeros are not allowed in JSON numbers");
  }
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  uint64_t value = 0;
  while (pos_ < text_.size() && is_digit(text_[pos_])) {
    const auto digit = static_cast<uint64_t>(text_[pos_] - '0');
    if (value > (kMax - digit) / 10) fail("integer does not fit in 64 bits");
    value = value * 10 + digit;
    ++pos_;
  }
  if (pos_ < text_.size() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E')) {
    fail(fmt::format("expected {}, found a number with a fraction or exponent", expected));
  }
  return value;
}

void JsonReader::expect_end() {
  skip_whitespace();
  if (pos_ != text_.size())
    fail(fmt::format("expected the end of the header, found {}", describe_next()));
}

}  // namespace resnetc::checkpoint
