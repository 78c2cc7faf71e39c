#pragma once
// The front end in one call: read a .net file, parse it with the prelude, lower it to
// the graph IR and verify the result.
#include <filesystem>
#include <string>
#include <string_view>

#include "compiler/ir/graph.h"
#include "dsl/lower.h"
#include "dsl/source.h"
#include "dsl/training_settings.h"

namespace resnetc::dsl {

struct CompiledNetwork {
  ir::Graph graph;
  TrainingSettings training;
  SourceLoc input_loc;  // the network's `input` line: errors about the input's size point there
};

// Both throw CompileError; render it with the same SourceManager.
CompiledNetwork compile_file(SourceManager& sources, const std::filesystem::path& path, const LowerOptions& options);
CompiledNetwork compile_source(SourceManager& sources, std::string name, std::string text,
                               const LowerOptions& options);

// The built-in blocks, as text (`resnetc --prelude`).
std::string_view prelude_text();

}  // namespace resnetc::dsl
