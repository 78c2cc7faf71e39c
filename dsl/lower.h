#pragma once
// Gives a parsed network its meaning: instantiates blocks stage by stage, names every
// layer hierarchically (stage2.block0.conv1) and builds the graph IR, checking shapes as
// it goes so that each error points at the line that caused it.
#include <array>
#include <map>
#include <optional>
#include <string>

#include "compiler/ir/graph.h"
#include "dsl/ast.h"

namespace resnetc::dsl {

using BlockTable = std::map<std::string, const ast::BlockDef*, std::less<>>;

struct LowerOptions {
  std::optional<std::array<int64_t, 3>> input;  // C, H, W; replaces the file's `input`
  int64_t batch = 1;
};

ir::Graph lower_network(const ast::NetworkDef& net, const BlockTable& blocks, const LowerOptions& options);

// Checks a block definition on its own (names, sections), before any instantiation.
void check_block_definition(const ast::BlockDef& def);

}  // namespace resnetc::dsl
