#pragma once
// The syntax tree of a .net file, exactly as written; meaning is given by lower.cpp.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dsl/token.h"

namespace resnetc::dsl::ast {

struct Expr {
  enum class Kind { Int, Name, Unary, Binary, Real } kind = Kind::Int;
  SourceLoc loc;
  int64_t value = 0;     // Int
  double real = 0;       // Real: a decimal literal, a whole argument of a layer (`dropout 0.3`)
  std::string name;      // Name; operator spelling for Unary/Binary ("-", "not", "+", "and", ...);
                         // Real: its spelling
  std::unique_ptr<Expr> lhs, rhs;  // Unary uses lhs
};
using ExprPtr = std::unique_ptr<Expr>;

inline ExprPtr make_expr(Expr::Kind kind, SourceLoc loc) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->loc = std::move(loc);
  return e;
}

// `64` (positional), `stride=2` (named), `k3` (shorthand for k=3); `k1x7` and `kernel=1x7`
// give a pair, height then width.
struct Arg {
  std::string key;  // empty for positional
  ExprPtr value;
  ExprPtr width;    // the pair's second literal, or null
  SourceLoc loc;
};

struct LayerList;

struct Layer {
  std::string op;  // a gate: its name ("gate" unless written, `gate se { ... }`)
  SourceLoc loc;
  std::vector<Arg> args;
  std::unique_ptr<LayerList> gate;  // `gate { layers }`: y = x * layers(x); null for other layers
};

struct LayerList {
  SourceLoc loc;
  std::vector<Layer> layers;
};

struct Param {
  std::string name;
  ExprPtr default_value;  // null when required
  SourceLoc loc;
};

struct Let {
  std::string name;
  ExprPtr value;
  SourceLoc loc;
};

struct Shortcut {
  SourceLoc loc;
  bool from_pre = false;  // project the pre-activated input instead of the block input
  ExprPtr condition;      // null: always project
  LayerList layers;
};

struct BlockDef {
  std::string name;
  SourceLoc loc;
  std::vector<Param> params;
  std::vector<Let> lets;
  std::optional<LayerList> pre, branch, post;
  std::optional<Shortcut> shortcut;
};

struct Stage {
  std::string block;
  SourceLoc loc;
  SourceLoc block_loc;
  std::vector<Arg> args;
};

// `key value` lines of the optional `train { ... }` section.
struct Setting {
  std::string key;
  Token value;
  std::optional<Token> second;  // a second value on the line: `dataset cifar10 "data/cifar-10-batches-bin"`
  SourceLoc loc;
};

struct NetworkDef {
  std::string name;
  SourceLoc loc;
  std::vector<int64_t> input;  // C, H, W
  SourceLoc input_loc;
  std::optional<LayerList> stem, head;
  std::vector<Stage> stages;
  std::vector<Setting> train;
  SourceLoc train_loc;
};

struct File {
  std::vector<BlockDef> blocks;
  std::vector<NetworkDef> networks;
};

}  // namespace resnetc::dsl::ast
