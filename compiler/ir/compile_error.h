#pragma once
// The one error for a fault in the user's program, whichever layer finds it: the .net front end
// (dsl/), the IR parser, shape inference in the graph builder, autodiff and the trainer refusing
// a network they cannot train, and the verifier. It lives here, the lowest layer that throws it;
// dsl/diagnostics.h renders it clang-style (file:line:col, the source line, a caret, notes).
//
// Where the line is drawn: a CompileError says "your network is wrong, here". Faults of the
// command line, of the machine, and of the files and data a program runs on are not, and keep
// their own types, which their callers report in their own words: UsageError (the command
// line), CudaError and NvrtcError (runtime/cuda: the driver or NVRTC refused what the compiler
// made), JitError, DataError, CheckpointError, LogError, ExecutorError and TrainingError.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "compiler/ir/location.h"

namespace resnetc::ir {

struct Note {
  SourceLoc loc;
  std::string message;
};

struct Diagnostic {
  SourceLoc loc;  // no file: about no file; line 0: about the file as a whole
  std::string message;
  std::vector<Note> notes;
  uint32_t length = 1;  // how many bytes the caret underlines
};

class CompileError : public std::runtime_error {
 public:
  // Which check found it. Callers treat the verifier's apart: on a graph the compiler built, a
  // failure is the compiler's own bug; on an IR file the user wrote, it is the user's.
  enum class Phase {
    Source,  // reading the text: bytes, syntax, names, arguments, settings
    Graph,   // the network it describes: shapes that do not fit, a graph that cannot be trained
    Verify,  // the verifier (compiler/ir/verifier.h)
  };

  CompileError(Phase found_by, Diagnostic d)
      : std::runtime_error(d.message), phase(found_by), diagnostic(std::move(d)) {}
  CompileError(Phase found_by, SourceLoc loc, std::string message, uint32_t length = 1)
      : CompileError(found_by, Diagnostic{std::move(loc), std::move(message), {}, length}) {}

  Phase phase;
  Diagnostic diagnostic;
};

}  // namespace resnetc::ir
