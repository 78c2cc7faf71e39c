// libFuzzer target for the front end: lexer, parser, lowering and shape inference.
// Any byte string must either compile to a verified graph or be refused with a
// CompileError whose rendering (source line, caret, notes) is itself well-formed.
// Anything else escaping — another exception, a crash, a sanitizer report, a hang —
// is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "dsl/diagnostics.h"
#include "dsl/frontend.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  resnetc::dsl::SourceManager sources;
  try {
    resnetc::dsl::CompiledNetwork net = resnetc::dsl::compile_source(sources, "fuzz.net", std::move(text), {});
    if (net.graph.ops.empty() && net.graph.values.empty()) std::abort();  // a graph always has its input
  } catch (const resnetc::ir::CompileError& e) {
    // The verifier rejecting what the front end built is the compiler's bug, not the input's.
    if (e.phase == resnetc::ir::CompileError::Phase::Verify) std::abort();
    std::string shown = resnetc::dsl::render(e.diagnostic, sources);
    // The first line is always `fuzz.net:LINE:COL: error: ...` (or the prelude's name
    // for errors that cannot point into the user's file), never empty.
    if (shown.empty() || shown.find(": error: ") == std::string::npos) std::abort();
  }
  return 0;
}
