#pragma once
// Compile errors in the style of clang: `file:line:col: error: message`, the source line,
// a caret under the offending text, then notes (e.g. where a block was instantiated).
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "dsl/source.h"

namespace resnetc::dsl {

struct Note {
  SourceLoc loc;
  std::string message;
};

struct Diagnostic {
  SourceLoc loc;
  std::string message;
  std::vector<Note> notes;
  uint32_t length = 1;  // how many bytes the caret underlines
};

class CompileError : public std::runtime_error {
 public:
  explicit CompileError(Diagnostic d) : std::runtime_error(d.message), diagnostic(std::move(d)) {}
  Diagnostic diagnostic;
};

[[noreturn]] void error_at(const SourceLoc& loc, std::string message, uint32_t length = 1);

// Renders the diagnostic. Errors that arise inside the built-in prelude are reported at
// the user's line that instantiated the block, with the prelude line as a note.
std::string render(const Diagnostic& d, const SourceManager& sources);

// The candidate closest to `word` by edit distance, or "" when none is close enough.
std::string nearest(std::string_view word, const std::vector<std::string_view>& candidates);
// "; did you mean 'x'?" or "".
std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace resnetc::dsl
