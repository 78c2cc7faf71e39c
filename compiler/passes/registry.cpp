// The pass table and the pipeline that runs it.
#include <algorithm>

#include "compiler/ir/printer.h"
#include "compiler/ir/verifier.h"
#include "compiler/passes/pass.h"

namespace resnetc::passes {

namespace {

const Pass kPasses[] = {
    {"cse", "merge ops of the same kind, inputs and attributes", 1, eliminate_common_subexpressions},
    {"fold-batchnorm", "fold inference BatchNorm into the preceding convolution's weights and bias", 1,
     fold_batchnorm},
    {"fuse-batchnorm-backward",
     "compute BatchNorm's weight and bias gradients in one reduction that its input gradient reuses", 2,
     fuse_batchnorm_backward},
    {"lower-maps", "lower the map table's elementwise ops (relu, add, sigmoid, ...) and their gradients to maps", 0,
     lower_maps},
    {"fuse-elementwise", "fuse chains of elementwise ops (BatchNorm apply, add, relu, their gradients) into one kernel",
     2, fuse_elementwise},
    {"group-updates", "update every parameter (and every running statistic) in one kernel", 2, group_updates},
    {"fuse-conv-stats", "compute training BatchNorm's batch statistics in the epilogue of the conv before it", 2,
     fuse_conv_stats},
    {"dce", "remove ops whose results nothing reads", 1, eliminate_dead_code},
};

}  // namespace

std::span<const Pass> all_passes() { return kPasses; }

const Pass* find_pass(std::string_view name) {
  for (const Pass& p : kPasses)
    if (p.name == name) return &p;
  return nullptr;
}

void run_pipeline(ir::Graph& graph, const PipelineOptions& options) {
  for (const Pass& pass : kPasses) {
    if (options.level < pass.min_level) continue;
    pass.run(graph);
    if (options.verify_each) ir::verify_or_throw(graph, pass.name);
    const bool print = options.print_after_all || std::find(options.print_after.begin(), options.print_after.end(),
                                                            pass.name) != options.print_after.end();
    if (print && options.print_to != nullptr)
      *options.print_to << "; IR after " << pass.name << "\n" << ir::print_ir(graph);
  }
  ir::verify_or_throw(graph, options.level > 0 ? "the optimization passes" : "lowering");
}

plan::KernelPlan optimized_plan(ir::Graph graph, const PipelineOptions& options) {
  run_pipeline(graph, options);
  return plan::make_plan(graph, {.reuse_memory = options.level > 0,
                                 .precision = options.precision,
                                 .bf16_activations = options.bf16_activations});
}

}  // namespace resnetc::passes
