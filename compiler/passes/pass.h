#pragma once
// The optimization passes and the one table that lists them (registry.cpp). A pass rewrites a
// graph in place and keeps it valid; the pipeline runs the passes of an optimization level in
// the table's order, verifying and printing between them on request.
#include <functional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/plan/kernel_plan.h"

namespace resnetc::passes {

struct Pass {
  std::string_view name;         // "fuse-elementwise": what --print-after names
  std::string_view description;  // one line for --help
  int min_level;                 // run at -O<min_level> and above
  std::function<void(ir::Graph&)> run;
};

// Every pass, in pipeline order.
std::span<const Pass> all_passes();
const Pass* find_pass(std::string_view name);

struct PipelineOptions {
  int level = 2;                          // -O0, -O1, -O2
  std::vector<std::string> print_after;   // pass names: print the IR after each of them
  bool print_after_all = false;
  bool verify_each = false;  // run the verifier after every pass (the pipeline always verifies at the end)
  std::ostream* print_to = nullptr;  // where --print-after goes; required when printing
  plan::Precision precision = plan::Precision::Fp32;  // the plan's (plan::PlanOptions::precision)
  bool bf16_activations = false;                      // plan::PlanOptions::bf16_activations
};

// The options of level `level` with nothing printed or verified between passes.
inline PipelineOptions at_level(int level) {
  PipelineOptions options;
  options.level = level;
  return options;
}

// Runs the passes of `options.level`; throws ir::CompileError (Phase::Verify) naming the pass
// that broke the graph.
void run_pipeline(ir::Graph& graph, const PipelineOptions& options);

// `graph` through the pipeline, then planned with buffers reused by liveness from -O1 on: what
// every command and backend runs.
plan::KernelPlan optimized_plan(ir::Graph graph, const PipelineOptions& options);

// The passes themselves (one file each).
void lower_maps(ir::Graph& graph);
void eliminate_common_subexpressions(ir::Graph& graph);
void fold_batchnorm(ir::Graph& graph);
void fuse_batchnorm_backward(ir::Graph& graph);
void fuse_elementwise(ir::Graph& graph);
void group_updates(ir::Graph& graph);
void fuse_conv_stats(ir::Graph& graph);
void eliminate_dead_code(ir::Graph& graph);

}  // namespace resnetc::passes
