#include "dsl/frontend.h"

#include <fmt/format.h>

#include "compiler/ir/verifier.h"
#include "dsl/diagnostics.h"
#include "dsl/parser.h"

namespace resnetc::dsl {

extern const char kPreludeText[];  // generated from prelude.net at build time

std::string_view prelude_text() { return kPreludeText; }

namespace {

CompiledNetwork compile(SourceManager& sources, const SourceFile& file, const LowerOptions& options) {
  const SourceFile& prelude = sources.add("<prelude>", std::string(prelude_text()), /*is_prelude=*/true);
  ast::File builtin = parse(prelude);
  ast::File user = parse(file);

  BlockTable blocks;
  for (const ast::BlockDef& def : builtin.blocks) blocks[def.name] = &def;
  std::map<std::string, const ast::BlockDef*, std::less<>> user_blocks;
  for (const ast::BlockDef& def : user.blocks) {
    if (auto [it, fresh] = user_blocks.emplace(def.name, &def); !fresh) {
      Diagnostic d{def.loc, fmt::format("block '{}' is defined twice", def.name), {}, 5};
      d.notes.push_back({it->second->loc, "first defined here"});
      throw CompileError(CompileError::Phase::Source, std::move(d));
    }
    check_block_definition(def);
    blocks[def.name] = &def;  // a user's block replaces the built-in one of that name
  }

  if (user.networks.empty())
    throw CompileError(CompileError::Phase::Source, SourceLoc{file.name, 0, 0},
                       "no network in this file; a .net file needs 'network NAME { ... }'");
  if (user.networks.size() > 1) {
    Diagnostic d{user.networks[1].loc, "only one network per file", {}, 7};
    d.notes.push_back({user.networks[0].loc, "the first network is here"});
    throw CompileError(CompileError::Phase::Source, std::move(d));
  }
  const ast::NetworkDef& net = user.networks[0];
  CompiledNetwork out{lower_network(net, blocks, options), read_training_settings(net.train),
                      net.input_loc.valid() ? net.input_loc : net.loc};
  ir::verify_or_throw(out.graph, "dsl lowering");
  return out;
}

}  // namespace

CompiledNetwork compile_file(SourceManager& sources, const std::filesystem::path& path, const LowerOptions& options) {
  return compile(sources, sources.load(path), options);
}

CompiledNetwork compile_source(SourceManager& sources, std::string name, std::string text,
                               const LowerOptions& options) {
  return compile(sources, sources.add(std::move(name), std::move(text)), options);
}

}  // namespace resnetc::dsl
