// resnetc: compile a residual network description and report on it.
#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <vector>

#include "compiler/analysis/layer_table.h"
#include "compiler/autodiff/training_graph.h"
#include "compiler/ir/builder.h"
#include "compiler/ir/dot.h"
#include "compiler/ir/printer.h"
#include "compiler/ir/verifier.h"
#include "compiler/plan/kernel_plan.h"
#include "dsl/diagnostics.h"
#include "dsl/frontend.h"
#include "tools/resnetc/options.h"
#include "tools/resnetc/table_report.h"

namespace {

using namespace resnetc;

int run(const cli::Options& o) {
  if (o.help) return fmt::print("{}", cli::usage()), 0;
  if (o.version) return fmt::print("resnetc {}\n", RESNETC_VERSION), 0;
  if (o.prelude) return fmt::print("{}", dsl::prelude_text()), 0;

  dsl::SourceManager sources;
  try {
    dsl::CompiledNetwork net = dsl::compile_file(sources, o.model, {o.input, o.batch});
    if (o.train)
      net.graph = autodiff::make_training_graph(
          net.graph, {net.training.momentum.value_or(0), net.training.weight_decay.value_or(0)});
    switch (o.emit) {
      case cli::Emit::Ir: fmt::print("{}", ir::print_ir(net.graph)); break;
      case cli::Emit::Dot: fmt::print("{}", ir::print_dot(net.graph)); break;
      case cli::Emit::Plan: fmt::print("{}", plan::print_plan(plan::make_plan(net.graph))); break;
      case cli::Emit::Table: {
        analysis::LayerTable table = analysis::layer_table(net.graph, o.depth);
        fmt::print("{}", o.format == cli::Format::Json ? cli::format_table_json(table) : cli::format_table_text(table));
        break;
      }
    }
    return 0;
  } catch (const dsl::CompileError& e) {
    fmt::print(stderr, "{}", dsl::render(e.diagnostic, sources));
  } catch (const ir::ShapeError& e) {
    dsl::Diagnostic d{e.loc, e.what(), {}};
    fmt::print(stderr, "{}", dsl::render(d, sources));
  } catch (const ir::VerifyError& e) {
    fmt::print(stderr, "{}: internal error: {}\n", o.model, e.what());
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(cli::parse_options(std::vector<std::string>(argv + 1, argv + argc)));
  } catch (const cli::UsageError& e) {
    fmt::print(stderr, "resnetc: error: {}\nTry 'resnetc --help' for more information.\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "resnetc: internal error: {}\n", e.what());
    return 70;
  }
}
