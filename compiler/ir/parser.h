#pragma once
// Reads the IR's text form (compiler/ir/printer.h) back into a Graph, so that passes can be
// tested from IR text. Today tests/ir/test_parser.cpp uses it; `resnetc` reading `.ir` files
// and the FileCheck tests in tests/lit are the next steps of issue 11.
//
// What the text leaves implicit, the parser fills in the way the compiler makes it:
// - the first `input` is the network's input; in a training graph the second is the labels
//   (int32) and the third the learning rate (the printer declares them in that order);
// - an op that defines a value is named after it (unless the line says `named X`); an update,
//   which defines none, is named as autodiff and group-updates name it ("P.update",
//   "BN.running_update", "optimizer.update", "batchnorm.running_update", numbered when repeated);
// - a trailing `// file:line[:col]` comment is the op's source location.
// The result is checked with the verifier.
#include <string_view>

#include "compiler/ir/compile_error.h"
#include "compiler/ir/graph.h"

namespace resnetc::ir {

// Throws CompileError: Phase::Source located at text that is not the printer's format (1-based
// line and column in bytes), Phase::Verify for a graph that parses but is invalid.
Graph parse_ir(std::string_view text, std::string_view file_name);

}  // namespace resnetc::ir
