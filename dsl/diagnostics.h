#pragma once
// Renders compile errors (compiler/ir/compile_error.h) in the style of clang: `file:line:col:
// error: message`, the source line, a caret under the offending text, then notes (e.g. where a
// block was instantiated).
#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir/compile_error.h"
#include "dsl/source.h"

namespace resnetc::dsl {

using ir::CompileError;
using ir::Diagnostic;
using ir::Note;

// Throws a CompileError (Phase::Source) at `loc`.
[[noreturn]] void error_at(const SourceLoc& loc, std::string message, uint32_t length = 1);

// Renders the diagnostic. Errors that arise inside the built-in prelude are reported at
// the user's line that instantiated the block, with the prelude line as a note.
std::string render(const Diagnostic& d, const SourceManager& sources);

// The candidate closest to `word` by edit distance, or "" when none is close enough.
std::string nearest(std::string_view word, const std::vector<std::string_view>& candidates);
// "; did you mean 'x'?" or "".
std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace resnetc::dsl
