#include "dsl/lexer.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cstdlib>

#include "dsl/diagnostics.h"

namespace resnetc::dsl {

std::string_view tok_name(Tok t) {
  switch (t) {
    case Tok::Ident: return "a name";
    case Tok::Int: return "an integer";
    case Tok::Float: return "a number";
    case Tok::String: return "a string";
    case Tok::Dims: return "dimensions like 1x96x96";
    case Tok::Newline: return "end of line";
    case Tok::LBrace: return "'{'";
    case Tok::RBrace: return "'}'";
    case Tok::LParen: return "'('";
    case Tok::RParen: return "')'";
    case Tok::Comma: return "','";
    case Tok::Semicolon: return "';'";
    case Tok::Assign: return "'='";
    case Tok::Plus: return "'+'";
    case Tok::Minus: return "'-'";
    case Tok::Star: return "'*'";
    case Tok::Slash: return "'/'";
    case Tok::Percent: return "'%'";
    case Tok::Eq: return "'=='";
    case Tok::NotEq: return "'!='";
    case Tok::Less: return "'<'";
    case Tok::LessEq: return "'<='";
    case Tok::Greater: return "'>'";
    case Tok::GreaterEq: return "'>='";
    case Tok::Eof: return "end of file";
  }
  return "?";
}

namespace {

class Lexer {
 public:
  explicit Lexer(const SourceFile& file) : file_(file), src_(file.text) {}

  // Appends to `out` so that the tokens before a lexical error survive it.
  void run(std::vector<Token>& out) {
    while (true) {
      skip_blanks_and_comments();
      SourceLoc loc = here();
      if (pos_ >= src_.size()) {
        out.push_back({Tok::Eof, "", loc});
        return;
      }
      char c = src_[pos_];
      if (c == '\n') {
        out.push_back({Tok::Newline, "\\n", loc});
        advance_line();
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        out.push_back(identifier(loc));
      } else if (std::isdigit(static_cast<unsigned char>(c)) || (c == '.' && next_is_digit())) {
        out.push_back(number(loc));
      } else if (c == '"') {
        out.push_back(string(loc));
      } else {
        out.push_back(punctuation(loc));
      }
    }
  }

 private:
  SourceLoc here() const { return {file_.name, line_, static_cast<uint32_t>(pos_ - line_start_ + 1)}; }
  bool next_is_digit() const {
    return pos_ + 1 < src_.size() && std::isdigit(static_cast<unsigned char>(src_[pos_ + 1]));
  }
  void advance_line() {
    ++pos_;
    ++line_;
    line_start_ = pos_;
  }

  void skip_blanks_and_comments() {
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
        ++pos_;
      } else if (c == '#') {
        // Comments may hold any text, but still only valid UTF-8.
        while (pos_ < src_.size() && src_[pos_] != '\n') skip_utf8_char();
      } else {
        return;
      }
    }
  }

  void skip_utf8_char() {
    auto b = static_cast<unsigned char>(src_[pos_]);
    size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
    bool ok = n > 0 && pos_ + n <= src_.size();
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(src_[pos_ + k]) >> 6) == 0x2;
    if (!ok) error_at(here(), fmt::format("invalid UTF-8 byte 0x{:02x}: a .net file must be UTF-8 text", b));
    if (b == 0) error_at(here(), "unexpected NUL byte");
    pos_ += n;
  }

  Token identifier(SourceLoc loc) {
    size_t start = pos_;
    while (pos_ < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) ++pos_;
    if (pos_ - start > 256) error_at(loc, "name is longer than 256 characters", 1);
    return {Tok::Ident, std::string(src_.substr(start, pos_ - start)), loc};
  }

  Token number(SourceLoc loc) {
    size_t start = pos_;
    auto digits = [&] {
      while (pos_ < src_.size() && std::isdigit(static_cast<unsigned char>(src_[pos_]))) ++pos_;
    };
    digits();
    bool is_float = false;
    if (pos_ < src_.size() && src_[pos_] == '.') is_float = true, ++pos_, digits();
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t save = pos_++;
      if (pos_ < src_.size() && (src_[pos_] == '+' || src_[pos_] == '-')) ++pos_;
      if (pos_ < src_.size() && std::isdigit(static_cast<unsigned char>(src_[pos_]))) {
        is_float = true;
        digits();
      } else {
        pos_ = save;
      }
    }
    if (!is_float && pos_ < src_.size() && src_[pos_] == 'x') return dims(loc, start);
    if (pos_ < src_.size() && (std::isalpha(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_'))
      error_at(here(), fmt::format("expected a space or an operator after the number '{}', found '{}'",
                                   src_.substr(start, pos_ - start), src_[pos_]));
    std::string text(src_.substr(start, pos_ - start));
    Token t{is_float ? Tok::Float : Tok::Int, text, loc};
    if (is_float) {
      t.float_value = std::strtod(text.c_str(), nullptr);
    } else {
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), t.int_value);
      if (ec != std::errc()) error_at(loc, fmt::format("integer '{}' is too large", text), t.length());
    }
    return t;
  }

  // 1x96x96: dimensions written as one word.
  Token dims(SourceLoc loc, size_t start) {
    while (pos_ < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[pos_])) || src_[pos_] == '_')) ++pos_;
    std::string text(src_.substr(start, pos_ - start));
    bool expect_digit = true, ok = true;
    for (char c : text) {
      if (c == 'x' && !expect_digit) {
        expect_digit = true;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        expect_digit = false;
      } else {
        ok = false;
      }
    }
    if (!ok || expect_digit)
      error_at(loc, fmt::format("malformed dimensions '{}': expected numbers separated by 'x', like 1x96x96", text),
               static_cast<uint32_t>(text.size()));
    return {Tok::Dims, text, loc};
  }

  Token string(SourceLoc loc) {
    size_t start = ++pos_;
    while (pos_ < src_.size() && src_[pos_] != '"') {
      if (src_[pos_] == '\n') error_at(loc, "unterminated string: a string must end on the line it starts");
      skip_utf8_char();
    }
    if (pos_ >= src_.size()) error_at(loc, "unterminated string");
    std::string text(src_.substr(start, pos_ - start));
    ++pos_;
    return {Tok::String, text, loc};
  }

  Token punctuation(SourceLoc loc) {
    char c = src_[pos_];
    char n = pos_ + 1 < src_.size() ? src_[pos_ + 1] : '\0';
    auto one = [&](Tok t) { ++pos_; return Token{t, std::string(1, c), loc}; };
    auto two = [&](Tok t) { pos_ += 2; return Token{t, std::string{c, n}, loc}; };
    switch (c) {
      case '{': return one(Tok::LBrace);
      case '}': return one(Tok::RBrace);
      case '(': return one(Tok::LParen);
      case ')': return one(Tok::RParen);
      case ',': return one(Tok::Comma);
      case ';': return one(Tok::Semicolon);
      case '+': return one(Tok::Plus);
      case '-': return one(Tok::Minus);
      case '*': return one(Tok::Star);
      case '/': return one(Tok::Slash);
      case '%': return one(Tok::Percent);
      case '=': return n == '=' ? two(Tok::Eq) : one(Tok::Assign);
      case '!':
        if (n == '=') return two(Tok::NotEq);
        error_at(loc, "unexpected '!'; use 'not' for negation or '!=' for inequality");
      case '<': return n == '=' ? two(Tok::LessEq) : one(Tok::Less);
      case '>': return n == '=' ? two(Tok::GreaterEq) : one(Tok::Greater);
      default: break;
    }
    auto b = static_cast<unsigned char>(c);
    if (b == 0) error_at(loc, "unexpected NUL byte: this does not look like a text file");
    if (b >= 0x80) {
      size_t start = pos_;
      skip_utf8_char();  // throws on invalid UTF-8
      // Name the code point too: a no-break space or a zero-width space looks like nothing.
      uint32_t cp = b & (pos_ - start == 2 ? 0x1F : pos_ - start == 3 ? 0x0F : 0x07);
      for (size_t i = start + 1; i < pos_; ++i) cp = (cp << 6) | (static_cast<unsigned char>(src_[i]) & 0x3F);
      error_at(loc, fmt::format("unexpected character '{}' (U+{:04X})", src_.substr(start, pos_ - start), cp));
    }
    if (b < 0x20 || b == 0x7f) error_at(loc, fmt::format("unexpected control character 0x{:02x}", b));
    error_at(loc, fmt::format("unexpected character '{}'; expected a name, a number, an operator, a brace or '#'", c));
  }

  const SourceFile& file_;
  std::string_view src_;
  size_t pos_ = 0, line_start_ = 0;
  uint32_t line_ = 1;
};

}  // namespace

std::vector<Token> lex(const SourceFile& file) {
  std::vector<Token> out;
  Lexer(file).run(out);
  return out;
}

std::vector<Token> lex(const SourceFile& file, std::optional<Diagnostic>& error) {
  std::vector<Token> out;
  try {
    Lexer(file).run(out);
  } catch (const CompileError& e) {
    error = e.diagnostic;
    out.push_back({Tok::Eof, "", e.diagnostic.loc});
  }
  return out;
}

}  // namespace resnetc::dsl
