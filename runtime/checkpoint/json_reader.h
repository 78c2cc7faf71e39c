#pragma once
// A strict pull parser for the JSON subset that safetensors headers use: objects, arrays,
// strings and non-negative integers. The caller drives it with the shape it expects, so no
// document tree is built and nesting can never go deeper than the caller's own code: a
// hostile "[[[[..." fails at its first unexpected bracket instead of recursing.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace resnetc::checkpoint {

class JsonError : public std::runtime_error {
 public:
  JsonError(size_t offset, const std::string& message)
      : std::runtime_error(message), offset_(offset) {}
  size_t offset() const { return offset_; }  // byte in the text where parsing stopped

 private:
  size_t offset_;
};

class JsonReader {
 public:
  explicit JsonReader(std::string_view text);  // throws JsonError unless text is UTF-8

  // `expected` describes the value for error messages, e.g. "a shape array".
  // on_member(const std::string& key) is called per member, in document order, and must
  // read exactly that member's value; on_element() likewise per array element.
  template <class OnMember>
  void read_object(std::string_view expected, OnMember&& on_member);
  template <class OnElement>
  void read_array(std::string_view expected, OnElement&& on_element);
  std::string read_string(std::string_view expected);
  uint64_t read_uint(std::string_view expected);
  void expect_end();  // nothing but whitespace may follow the top-level value

  [[noreturn]] void fail(const std::string& message) const;

 private:
  void skip_whitespace();
  bool consume(char c);  // skips whitespace; takes c if it is next
  void expect(char c, std::string_view expected);
  uint32_t read_hex4();
  uint32_t read_escaped_code_point();
  std::string describe_next() const;

  std::string_view text_;
  size_t pos_ = 0;
};

template <class OnMember>
void JsonReader::read_object(std::string_view expected, OnMember&& on_member) {
  expect('{', expected);
  if (consume('}')) return;
  do {
    const std::string key = read_string("a member name");
    expect(':', "':'");
    on_member(key);
  } while (consume(','));
  expect('}', "',' or '}'");
}

template <class OnElement>
void JsonReader::read_array(std::string_view expected, OnElement&& on_element) {
  expect('[', expected);
  if (consume(']')) return;
  do {
    on_element();
  } while (consume(','));
  expect(']', "',' or ']'");
}

}  // namespace resnetc::checkpoint
