#include <fmt/format.h>

#include "compiler/analysis/layer_table.h"
#include "compiler/autodiff/training_graph.h"
#include "compiler/codegen/cuda/cuda_emitter.h"
#include "compiler/ir/dot.h"
#include "compiler/ir/printer.h"
#include "compiler/plan/kernel_plan.h"
#include "dsl/frontend.h"
#include "tools/resnetc/commands.h"
#include "tools/resnetc/table_report.h"
#ifdef RESNETC_HAVE_LLVM
#include "compiler/codegen/llvm/cpu_program.h"
#endif

namespace resnetc::cli {

int run_compile(const Options& o, dsl::SourceManager& sources) {
  dsl::CompiledNetwork net = dsl::compile_file(sources, o.model, {o.input, o.batch.value_or(1)});
  if (o.train)
    net.graph = autodiff::make_training_graph(
        net.graph, {net.training.momentum.value_or(0), net.training.weight_decay.value_or(0)});
  switch (o.emit) {
    case Emit::Ir: fmt::print("{}", ir::print_ir(net.graph)); break;
    case Emit::Dot: fmt::print("{}", ir::print_dot(net.graph)); break;
    case Emit::Plan: fmt::print("{}", plan::print_plan(plan::make_plan(net.graph))); break;
    case Emit::Cuda: fmt::print("{}", codegen::cuda::emit_cuda(plan::make_plan(net.graph)).source); break;
    case Emit::Llvm: {
#ifdef RESNETC_HAVE_LLVM
      codegen::llvm_backend::Jit jit;
      fmt::print("{}", codegen::llvm_backend::plan_llvm_ir(jit, plan::make_plan(net.graph)));
      break;
#else
      throw std::runtime_error("--emit=llvm: this resnetc was built without the CPU backend (LLVM 14)");
#endif
    }
    case Emit::Table: {
      analysis::LayerTable table = analysis::layer_table(net.graph, o.depth);
      fmt::print("{}", o.format == Format::Json ? format_table_json(table) : format_table_text(table));
      break;
    }
  }
  return 0;
}

}  // namespace resnetc::cli
