#pragma once
// The layers a .net file can name (conv, bn, relu, ...), their arguments, and how each
// becomes an IR op kind with attributes.
#include "compiler/ir/graph.h"
#include "dsl/ast.h"
#include "dsl/evaluate.h"

namespace resnetc::dsl {

struct ResolvedLayer {
  ir::OpKind kind;
  ir::Attrs attrs;
};

// Checks the layer's arguments against its schema and evaluates them in `env`.
// Throws CompileError at the offending word or argument.
ResolvedLayer resolve_layer(const ast::Layer& layer, const Env& env);

// Throws CompileError (with the nearest name) when the layer's word names no layer, and when
// a decimal is given where the layer takes an integer; a gate's layers are checked in turn.
void check_layer_word(const ast::Layer& layer);

}  // namespace resnetc::dsl
