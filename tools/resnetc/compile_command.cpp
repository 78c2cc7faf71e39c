#include <fmt/format.h>

#include <filesystem>
#include <optional>

#include "compiler/analysis/layer_table.h"
#include "compiler/autodiff/training_graph.h"
#include "compiler/codegen/cuda/cuda_emitter.h"
#include "compiler/ir/compile_error.h"
#include "compiler/ir/dot.h"
#include "compiler/ir/parser.h"
#include "compiler/ir/printer.h"
#include "compiler/plan/collectives.h"
#include "compiler/plan/kernel_plan.h"
#include "dsl/diagnostics.h"
#include "dsl/frontend.h"
#include "tools/resnetc/commands.h"
#include "tools/resnetc/data_parallel_job.h"
#include "tools/resnetc/table_report.h"
#include "train/recipe.h"
#ifdef RESNETC_HAVE_LLVM
#include "backends/cpu/cpu_program.h"
#endif

namespace resnetc::cli {
namespace {

autodiff::TrainingOptions training_options(const dsl::CompiledNetwork& net) {
  return train::training_options(train::recipe_from(net.training));
}

// The memory of one training step at the table's batch, with and without the memory plan; for a
// network that has none (no classifier, say), why.
TrainingMemory training_memory(const ir::Graph& graph, const autodiff::TrainingOptions& recipe, const Options& o) {
  if (std::optional<autodiff::Refusal> why = autodiff::why_untrainable(graph))
    return {.opt_level = o.opt_level, .none_because = why->reason};
  const plan::KernelPlan plan =
      passes::optimized_plan(autodiff::make_training_graph(graph, recipe), passes::at_level(o.opt_level));
  return {plan::planned_peak_bytes(plan), plan::unplanned_peak_bytes(plan), o.opt_level, {}};
}

// A `.ir` file is the text `--emit=ir` prints: the graph, past the front end, with its shapes
// fixed. Its errors are reported at file:line:col like the language's.
dsl::CompiledNetwork load_ir(dsl::SourceManager& sources, const Options& o) {
  if (o.input || o.batch)
    throw std::invalid_argument(fmt::format("--input and --batch do not apply to {}: an IR file's shapes are fixed", o.model));
  const dsl::SourceFile& file = sources.load(o.model);
  dsl::CompiledNetwork net;
  try {
    net.graph = ir::parse_ir(file.text, *file.name);
  } catch (ir::CompileError& e) {
    if (e.phase == ir::CompileError::Phase::Verify)
      throw std::invalid_argument(fmt::format("{}: {}", o.model, e.what()));  // bad input, not our fault
    e.diagnostic.loc.file = file.name;  // the diagnostic quotes the line through the file's own name
    throw;
  }
  if (o.train && net.graph.loss != ir::kNoValue)
    throw std::invalid_argument(fmt::format("--train: {} is already a training graph", o.model));
  return net;
}

bool is_ir_file(const std::string& path) { return std::filesystem::path(path).extension() == ".ir"; }

}  // namespace

int run_compile(const Options& o, dsl::SourceManager& sources) {
  dsl::CompiledNetwork net = is_ir_file(o.model) ? load_ir(sources, o)
                                                 : dsl::compile_file(sources, o.model, {o.input, o.batch.value_or(1)});
  if (o.emit == Emit::Table) {
    analysis::LayerTable table = analysis::layer_table(net.graph, o.depth);
    const TrainingMemory memory =
        is_ir_file(o.model) ? TrainingMemory{.opt_level = o.opt_level, .none_because = "not estimated for an IR file"}
                            : training_memory(net.graph, training_options(net), o);
    fmt::print("{}", o.format == Format::Json ? format_table_json(table, memory) : format_table_text(table, memory));
    return 0;
  }
  if (o.train) net.graph = autodiff::make_training_graph(net.graph, training_options(net));
  // --emit=dot draws the network as written; an explicit -O draws it after the passes.
  std::optional<ir::Graph> as_written;
  if (o.emit == Emit::Dot && !o.opt_level_given) as_written = net.graph;
  passes::run_pipeline(net.graph, pipeline_options(o));
  const plan::PlanOptions plan_options{.reuse_memory = o.opt_level > 0,
                                       .precision = o.precision.value_or(plan::Precision::Fp32),
                                       .bf16_activations = true};
  switch (o.emit) {
    case Emit::Table: break;
    case Emit::Ir: fmt::print("{}", ir::print_ir(net.graph)); break;
    case Emit::Dot: fmt::print("{}", ir::print_dot(as_written ? *as_written : net.graph, {o.depth})); break;
    case Emit::Plan: {
      const plan::KernelPlan plan = plan::make_plan(net.graph, plan_options);
      fmt::print("{}", plan::print_plan(plan));
      if (o.collectives) fmt::print("{}", plan::print_collectives(plan, plan::place_collectives(plan, collective_options(o))));
      break;
    }
    case Emit::Cuda: {  // unless --precision says otherwise, what a GPU runs by default: tf32 (docs/precision.md)
      const plan::KernelPlan plan = plan::make_plan(
          net.graph, {.reuse_memory = o.opt_level > 0,
                     .precision = o.precision.value_or(plan::Precision::Tf32),
                     .bf16_activations = true});
      fmt::print("{}", codegen::cuda::emit_cuda(plan, codegen::cuda::options_for_precision(plan.precision)).source);
      break;
    }
    case Emit::Llvm: {
#ifdef RESNETC_HAVE_LLVM
      codegen::llvm_backend::Jit jit;
      fmt::print("{}", codegen::llvm_backend::plan_llvm_ir(jit, plan::make_plan(net.graph, plan_options),
                                                           cpu::ThreadPool::global()));
      break;
#else
      throw std::runtime_error("--emit=llvm: this resnetc was built without the CPU backend (LLVM 14)");
#endif
    }
  }
  return 0;
}

}  // namespace resnetc::cli
